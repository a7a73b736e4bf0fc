"""The status codes kernels return (alone, or first in a result tuple) to their wrappers.

Statuses from ``OVERFLOW`` up end a kernel call at once, wherever they arise (``status >=
OVERFLOW``): the wrapper acts on them and calls again, or raises.
"""

#: Done.
OK = 0
#: The input is rejected; the caller keeps its previous state.
DEAD = 1
#: A lexer is missing: the kernel left the live-terminal bitset it needs in the parser
#: record's ``live_words`` (or listed several in ``need``); build it and call again.
NEED_LEXER = 2
#: An output or work array is full: grow it and call again (kernels never allocate).
OVERFLOW = 3
#: The Earley work budget of the step (``counter[COUNTER_BUDGET]`` of the parser record) is
#: spent: the grammar is too ambiguous here; the wrapper raises, the matcher is unchanged.
OVER_BUDGET = 4
