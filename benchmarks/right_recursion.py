"""One mask deep inside a right-recursive rule: constrain next to llguidance and XGrammar.

XGrammar writes JSON strings right-recursively (``s ::= "" | [^"\\\\] s | "\\\\" escape s``);
an Earley parser without Leo's transitive items walks the whole recursion back to the
string's start at every completion, so one mask costs time in proportion to the string's
length. The same rule written with ``*`` is the iterative form. constrain reads the GBNF, where
it rewrites the right recursion as a repetition, and the Lark form, where the rules stay
recursive and Leo's transitive items keep a mask's cost flat. For each engine and form, the
text ``"`` + ``x`` * depth is accepted token by token (Qwen2's tokenization, the same ids for
every engine), and the next mask is timed on the thread clock (the median of the masks at
``--repeat`` depths around each depth, each the first mask of its state).

    python benchmarks/right_recursion.py [--depths 10,100,1000,3000] [--repeat 5]

Peers: llguidance (the Lark form), XGrammar (the GBNF). Missing peers are skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import constrain  # noqa: E402
from constrain.grammar.gbnf import grammar_from_gbnf  # noqa: E402
from constrain.testing import qwen2_hf_tokenizer  # noqa: E402

ESCAPE = r"""escape ::= ["\\/bfnrt] | "u" [A-Fa-f0-9] [A-Fa-f0-9] [A-Fa-f0-9] [A-Fa-f0-9]"""
GBNF = {
    "right-recursive": r"""root ::= "\"" s "\""
s ::= "" | [^"\\\x00-\x1F] s | "\\" escape s
"""
    + ESCAPE,
    "iterative": r"""root ::= "\"" s "\""
s ::= ([^"\\\x00-\x1F] | "\\" escape)*
"""
    + ESCAPE,
}
LARK = {
    "right-recursive": r"""start: "\"" s "\""
s: | CHAR s | "\\" escape s
CHAR: /[^"\\\x00-\x1f]/
escape: /["\\\/bfnrt]/ | /u[0-9a-fA-F]{4}/
""",
    "iterative": r"""start: "\"" s "\""
s: (CHAR | "\\" escape)*
CHAR: /[^"\\\x00-\x1f]/
escape: /["\\\/bfnrt]/ | /u[0-9a-fA-F]{4}/
""",
}


class EngineError(RuntimeError):
    """An engine refused a step (its message goes into the table)."""


class Constrain:
    name = "constrain"

    def __init__(self, tokenizer):
        self.vocab = constrain.Vocabulary.from_transformers(tokenizer)
        self.size = self.vocab.size

    def matcher(self, form):
        return constrain.Matcher(constrain.compile(grammar_from_gbnf(GBNF[form]), self.vocab))

    def fill(self, m, bitmask):
        m.fill_next_token_bitmask(bitmask)

    def accept(self, m, t):
        return m.accept_token(t)


class ConstrainLark(Constrain):
    """The Lark form: Lark rules are never rewritten, so here Leo's items carry the recursion."""

    name = "constrain (Lark)"

    def matcher(self, form):
        return constrain.Matcher(constrain.compile(constrain.Grammar.from_lark(LARK[form]), self.vocab))


class LLGuidance:
    name = "llguidance"

    def __init__(self, tokenizer):
        import llguidance
        import llguidance.hf

        self.llg = llguidance
        self.size = len(tokenizer)
        self.tok = llguidance.hf.from_tokenizer(tokenizer, n_vocab=self.size)

    def matcher(self, form):
        M = self.llg.LLMatcher
        m = M(self.tok, M.grammar_from_lark(LARK[form]), log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return m

    def fill(self, m, bitmask):
        m.unsafe_compute_mask_ptr(bitmask.ctypes.data, bitmask.nbytes)
        if m.is_error():  # llguidance reports a parser limit as the matcher's error state
            raise EngineError(m.get_error().splitlines()[0])

    def accept(self, m, t):
        return m.consume_token(t)


class XGrammar:
    name = "xgrammar"

    def __init__(self, tokenizer):
        import torch
        import xgrammar

        torch.set_num_threads(1)
        self.xgr = xgrammar
        self.torch = torch
        self.size = len(tokenizer)
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=self.size)
        self.compiler = xgrammar.GrammarCompiler(info, max_threads=1, cache_enabled=False)

    def matcher(self, form):
        return self.xgr.GrammarMatcher(self.compiler.compile_grammar(GBNF[form]))

    def fill(self, m, bitmask):
        m.fill_next_token_bitmask(self.torch.from_numpy(bitmask))

    def accept(self, m, t):
        return m.accept_token(t)


def mask_ms(engine, form, tokens, positions) -> float:
    """Median thread-clock milliseconds of the first mask at each of ``positions`` (token
    counts into ``tokens``), on one matcher stepping through them. Raises ``EngineError``
    when the engine refuses a step."""
    m = engine.matcher(form)
    bitmask = np.zeros((1, (engine.size + 31) // 32), dtype=np.int32)
    times = []
    at = 0
    for stop in positions:
        while at < stop:
            if not engine.accept(m, tokens[at]):
                raise EngineError(f"rejected token {at} of the text")
            at += 1
        start = time.thread_time()
        engine.fill(m, bitmask)
        times.append(time.thread_time() - start)
    return 1000 * statistics.median(times)


def cell(engine, form, tokens, positions) -> str:
    try:
        return f"{mask_ms(engine, form, tokens, positions):.2f}"
    except (EngineError, constrain.errors.ConstrainError) as e:
        return f"error: {e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="10,100,1000,3000", help="characters into the string")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    tokenizer = qwen2_hf_tokenizer()
    engines = []
    for cls in (Constrain, ConstrainLark, LLGuidance, XGrammar):
        try:
            engines.append(cls(tokenizer))
        except ImportError as e:
            print(f"skipping {cls.name}: {e}", file=sys.stderr)
    # One token per character after the quote, so that every depth is reachable exactly.
    quote = tokenizer.encode('"')
    x = tokenizer.encode("x")
    assert len(quote) == 1 and len(x) == 1
    tokens = quote + x * (max(depths) + args.repeat)
    for e in engines:  # warm-up: first compile and first masks outside the figures
        cell(e, "iterative", tokens, [1, 2])
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, one thread")
    print(f"# vocabulary: Qwen2 ({len(tokenizer)} tokens); ms per mask, median of {args.repeat}")
    print()
    names = [e.name for e in engines]
    print("| form | depth | " + " | ".join(names) + " |")
    print("|:--|--:|" + "--:|" * len(names))
    for form in ("right-recursive", "iterative"):
        for depth in depths:
            positions = [1 + depth + i for i in range(args.repeat)]
            cells = [cell(e, form, tokens, positions) for e in engines]
            print(f"| {form} | {depth} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
