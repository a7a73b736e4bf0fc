"""jsonschemabench: judge structured-generation engines on JSONSchemaBench and MaskBench.

The command line is :mod:`jsonschemabench.cli`; engines are adapted in
:mod:`jsonschemabench.engines`; the per-schema procedure is :mod:`jsonschemabench.masks`.
This package uses only the public ``constrain`` API.
"""

__version__ = "0.1.0"
