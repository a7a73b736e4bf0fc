"""Generated hostile input for every front end, and the checks each case must pass.

A case is ``(kind, seed)``; :func:`run_case` builds the input from ``random.Random(seed)``,
compiles it under tight limits and returns an :class:`Outcome`. The contract: a case either
compiles or raises a ``constrain.errors`` error, and when it compiles,

- ``regex``: the matcher accepts a string exactly when ``re.fullmatch(pattern, s, re.ASCII)``
  does, on random strings and on strings the masks lead to (an ``UnsatisfiableGrammarError``
  must agree with ``re`` too);
- ``schema``: every document a walk through the masks ends on is valid for ``jsonschema``
  (the schema is a mutated real one), and every candidate document the matcher accepts is;
- ``lark``, ``gbnf``: every string a walk through the masks ends on is accepted again from a
  fresh matcher, and no walk reaches a state that allows nothing and is not accepting;
- ``deep``: nested, huge and absurd input of every front end gives a result or a library
  error within the time limit.

Anything else (another exception, a wrong accept, a disagreement) is a failure whose message
names the input. ``tests/fuzz/test_fuzz.py`` runs a seeded slice in CI; ``benchmarks/fuzz.py``
runs long campaigns in worker processes under time and memory limits.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, List, Optional, Tuple

import jsonschema
import numpy as np

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.config import DEFAULT_LIMITS, MAX_NESTING
from constrain.errors import ConstrainError, UnsatisfiableGrammarError
from constrain.grammar.gbnf import grammar_from_gbnf
from constrain.grammar.json_schema import grammar_from_json_schema
from constrain.masks.bitmask import allocate_token_bitmask, bitmask_to_bool

KINDS = ("regex", "schema", "lark", "gbnf", "deep", "misuse")

#: Limits every case compiles and walks under: a case that needs more is a library error,
#: quickly. A step's Earley work of 250,000 units is a few milliseconds: random grammars can be
#: ambiguous enough that a walk's masks would otherwise cost seconds each.
LIMITS = DEFAULT_LIMITS.replace(
    max_compile_seconds=3, max_automaton_bytes=256 * 2**20, max_dfa_states=5000, max_earley_work=250_000
)
#: Wall-clock seconds a case may take in all (compiling, walking, checking).
CASE_SECONDS = 20

BYTES = Vocabulary.byte_level()
EOS = 256


@dataclass
class Outcome:
    kind: str
    seed: int
    result: str  # "compiled" or the library error's class name
    source: str  # the input, for the report
    failure: Optional[str] = None  # set when the contract is broken
    seconds: float = 0.0


class ContractError(AssertionError):
    """The case broke the contract (not a library error)."""


# --- walks through the masks -----------------------------------------------------------------


def walk(compiled, rng: random.Random, max_bytes: int = 120, stop: float = 0.25) -> Optional[bytes]:
    """A string the masks allow, byte by byte on the byte-level vocabulary; ``None`` when the
    walk ran past ``max_bytes``. A state that allows nothing and is not accepting is a
    contract failure (the masks promised a way on)."""
    m = Matcher(compiled)
    bitmask = allocate_token_bitmask(1, BYTES.size)
    out = bytearray()
    while len(out) < max_bytes:
        if m.is_accepting() and rng.random() < stop:
            return bytes(out)
        m.fill_next_token_bitmask(bitmask)
        allowed = np.flatnonzero(bitmask_to_bool(bitmask, BYTES.size)[0])
        allowed = allowed[allowed != EOS]
        if not len(allowed):
            if m.is_accepting():
                return bytes(out)
            raise ContractError(f"dead end after {bytes(out)!r}: nothing allowed and not accepting")
        # Prefer printable ASCII half the time, so walks finish and stay readable.
        printable = allowed[(allowed >= 32) & (allowed < 127)]
        pool = printable if len(printable) and rng.random() < 0.8 else allowed
        b = int(pool[rng.randrange(len(pool))])
        if not m.accept_token(b):
            raise ContractError(f"the mask allowed byte {b} after {bytes(out)!r} but accept_token refused it")
        out.append(b)
    return None


def accepts(compiled, data: bytes) -> bool:
    m = Matcher(compiled)
    return m.accept_bytes(data) and m.is_accepting()


# --- regexes ---------------------------------------------------------------------------------

_ATOMS = ["a", "b", "c", "ab", "[ab]", "[^a]", "[a-c]", ".", r"\d", r"\w", r"\s", r"\.", "[.]", "0", "1"]
_ADVERSARIAL_REGEX = [
    r"\1",
    "(?i)a",
    "a*?",
    "(?=a)",
    "(?!b)",
    "a{100000000000000000000}",
    "a{3,2}",
    "(",
    ")",
    "[",
    "a**",
    "(?P<n>a)(?P=n)",
    r"\b",
    "^",
    "$",
    "a{0}",
    "[z-a]",
    r"\p{L}",
    "(?#c)",
    "a{,3}",
]


def gen_regex(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 4 or r < 0.3:
        if rng.random() < 0.04:
            return rng.choice(_ADVERSARIAL_REGEX)
        return rng.choice(_ATOMS)
    if r < 0.5:
        return gen_regex(rng, depth + 1) + gen_regex(rng, depth + 1)
    if r < 0.65:
        return gen_regex(rng, depth + 1) + "|" + gen_regex(rng, depth + 1)
    if r < 0.8:
        return rng.choice(["(", "(?:"]) + gen_regex(rng, depth + 1) + ")"
    inner = "(?:" + gen_regex(rng, depth + 1) + ")"
    lo = rng.randint(0, 3)
    return inner + rng.choice(["*", "+", "?", f"{{{lo}}}", f"{{{lo},{lo + rng.randint(0, 3)}}}", f"{{{lo},}}"])


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice("abc01 .\n_x") for _ in range(rng.randint(0, 8)))


def _nested_repetition(pattern: str) -> bool:
    """Whether a repetition of more than one occurrence holds another repetition."""
    from re import _parser as sre

    def holds_repeat(items, inside: bool) -> bool:
        for op, arg in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
                low, high, body = arg
                if inside or holds_repeat(body, high is sre.MAXREPEAT or high > 1):
                    return True
            elif op is sre.SUBPATTERN:
                if holds_repeat(arg[-1], inside):
                    return True
            elif op is sre.BRANCH:
                if any(holds_repeat(b, inside) for b in arg[1]):
                    return True
        return False

    try:
        return holds_repeat(sre.parse(pattern, re.ASCII), False)
    except Exception:  # noqa: BLE001 - re rejects it; the caller knows
        return False


class _OracleTimeout(Exception):
    """Python's re ran past its time: no verdict."""


@contextlib.contextmanager
def _oracle_deadline(seconds: float = 0.5):
    """Bound one run of Python's re. It backtracks, exponentially on nested nullable
    repetitions (``(?:(?:(?:.)?){1,4})+){3,6}`` takes it minutes on four characters), and
    its matching loop checks for signals, so an alarm ends it. Only in the main thread
    (where signals are delivered); elsewhere the run is unbounded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise _OracleTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _re_matches(expected: "re.Pattern[str]", s: str) -> Optional[bool]:
    try:
        with _oracle_deadline():
            return expected.fullmatch(s) is not None
    except _OracleTimeout:
        return None


def check_regex(rng: random.Random, case: dict) -> tuple:
    pattern = case["source"] = gen_regex(rng)
    try:
        with warnings.catch_warnings():
            # Python's own notice that "[[" may mean a nested set some day: the oracle
            # compiles random patterns, and its reading today is the one we compare with.
            warnings.filterwarnings("ignore", "Possible nested set", FutureWarning)
            expected = re.compile(pattern, re.ASCII)
    except (re.error, OverflowError, RecursionError):
        expected = None
    samples = [_random_text(rng) for _ in range(40)]
    try:
        grammar = Grammar.from_regex(pattern)
        compiled = constrain.compile(grammar, BYTES, limits=LIMITS)
    except UnsatisfiableGrammarError:
        if expected is not None:
            for s in samples:
                if _re_matches(expected, s):
                    raise ContractError(f"regex {pattern!r} called unsatisfiable, but re matches {s!r}")
        raise
    if expected is None:
        raise ContractError(f"regex {pattern!r} compiled, but Python's re rejects it")
    for _ in range(10):
        text = walk(compiled, rng)
        if text is not None:
            samples.append(text.decode("utf-8"))
    # Python's re backtracks: on nested repetitions, (?:(?:\w)+){3,}, a 40-character string
    # it does not match can take it hours. There it judges short strings only.
    longest = 10 if _nested_repetition(pattern) else None
    for s in samples:
        if longest is not None and len(s) > longest:
            continue
        got = accepts(compiled, s.encode("utf-8"))
        want = _re_matches(expected, s)
        if want is not None and got != want:
            raise ContractError(f"regex {pattern!r} on {s!r}: constrain {got}, re {want}")
    return pattern, "compiled"


# --- JSON Schemas ----------------------------------------------------------------------------

_BASE_SCHEMAS = [
    {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name"],
    },
    {"type": "array", "items": {"type": "number", "exclusiveMaximum": 10}, "maxItems": 3},
    {"anyOf": [{"type": "string", "pattern": "^a+$"}, {"type": "null"}, {"const": 3}]},
    {"type": "object", "additionalProperties": {"type": "boolean"}, "maxProperties": 2},
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"v": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}},
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/node",
    },
    {"oneOf": [{"type": "integer", "multipleOf": 3}, {"type": "string", "enum": ["x", "y"]}]},
    {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}},
        "if": {"properties": {"kind": {"const": "a"}}},
        "then": {"required": ["x"]},
        "else": {"maxProperties": 1},
    },
    {"type": "string", "format": "date"},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
    {"not": {"type": "object"}},
    {},
]

_NUMBERS = [0, 1, -1, 2.5, 10**12, 1e30, 1e300, -1e300, 1e-300, 0.1, 3, 7, 2**63, 10**40, 1.7976931348623157e308]
_FRAGMENTS: List[Callable[[random.Random], dict]] = [
    lambda r: {
        "not": r.choice(
            [
                {"required": ["a"]},
                {"type": "string"},
                {"minLength": 2},
                {"minimum": 1},
                {"items": {"type": "integer"}},
                {"properties": {"a": {"type": "null"}}},
                {"maxProperties": 0},
                {"const": 1},
                {"enum": [1, "x"]},
                {"multipleOf": 2},
                {"not": {"type": "integer"}},
                {"anyOf": [{"type": "null"}, {"minItems": 1}]},
            ]
        )
    },
    lambda r: {"required": r.sample(["a", "b", "name", "v"], r.randint(0, 2))},
    lambda r: {r.choice(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]): r.choice(_NUMBERS)},
    lambda r: {"multipleOf": r.choice([1, 2, 3, 7, 0.5, 0.01, 10**12, 1e30, 12])},
    lambda r: {r.choice(["minLength", "maxLength"]): r.choice([0, 1, 3, 40, 200, 10**9])},
    lambda r: {"pattern": r.choice(["^a", "b$", "^[0-9]{2,3}$", "x|y", "^(a|b)*$", "\\d", "(", "^\\p{L}+$"])},
    lambda r: {
        "format": r.choice(
            [
                "date",
                "time",
                "date-time",
                "email",
                "uri",
                "uri-template",
                "ipv4",
                "uuid",
                "hostname",
                "duration",
                "regex",
                "json-pointer",
                "uri-reference",
            ]
        )
    },
    lambda r: {"enum": r.sample([1, "a", None, True, [1], {"a": 1}, 2.5, "b", 0, ""], r.randint(1, 4))},
    lambda r: {"const": r.choice([1, "a", None, [1, 2], {"a": "b"}, 0.5])},
    lambda r: {
        "type": r.choice(
            [
                "string",
                "integer",
                "number",
                "object",
                "array",
                "boolean",
                "null",
                ["string", "null"],
                ["integer", "object"],
            ]
        )
    },
    lambda r: {"allOf": [{"$ref": "#"}]},
    lambda r: {"anyOf": [{"type": "integer"}, {"minLength": 1}]},
    lambda r: {"oneOf": [{"type": "integer"}, {"minimum": 5}]},
    lambda r: {"items": r.choice([{"type": "string"}, False, {"not": {"type": "null"}}])},
    lambda r: {"contains": {"type": "integer"}, "maxContains": r.randint(0, 2)},
    lambda r: {"uniqueItems": True},
    lambda r: {"properties": {"a": r.choice([{"type": "integer"}, False, {"$ref": "#"}])}},
    lambda r: {"additionalProperties": r.choice([False, {"type": "integer"}])},
    lambda r: {"dependentRequired": {"a": ["b"]}},
    lambda r: {"propertyNames": {"maxLength": 2}},
    lambda r: {"minItems": r.randint(0, 3), "maxItems": r.randint(0, 4)},
    lambda r: {"minProperties": r.randint(0, 2)},
]


def _subschemas(schema, out: list) -> list:
    if isinstance(schema, dict):
        out.append(schema)
        for key in ("properties", "$defs", "patternProperties"):
            for sub in (schema.get(key) or {}).values():
                _subschemas(sub, out)
        for key in ("items", "not", "additionalProperties", "if", "then", "else", "contains"):
            _subschemas(schema.get(key), out)
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for sub in schema.get(key) or ():
                _subschemas(sub, out)
    return out


def gen_schema(rng: random.Random) -> dict:
    schema = json.loads(json.dumps(rng.choice(_BASE_SCHEMAS)))
    for _ in range(rng.randint(1, 4)):
        target = rng.choice(_subschemas(schema, []))
        target.update(rng.choice(_FRAGMENTS)(rng))
    return schema


class _NoVerdict(Exception):
    pass


def _json_number(text: str):
    """A JSON number with a fraction or exponent, exactly: an int when integral (JSON Schema
    calls 1.0 an integer; jsonschema calls a Decimal none), else a Decimal. Past 400 digits
    no verdict (an int of a million digits would be the oracle's own blow-up)."""
    try:
        value = Decimal(text)
        if value != value.to_integral_value():
            return value
    except ArithmeticError:
        raise _NoVerdict(text) from None
    if value.adjusted() > 400:
        raise _NoVerdict(text)
    return int(value)


_CANDIDATES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    3,
    7,
    2.5,
    12,
    "",
    "a",
    "aa",
    "x",
    "2024-02-30",
    "2024-02-29",
    "a'b",
    "{a}",
    [],
    [1],
    ["a", 1],
    [1, 1],
    {},
    {"a": 1},
    {"name": "bo"},
    {"a": None, "b": 1},
    {"kind": "a", "x": 1},
    {"kind": "b"},
    {"v": 1, "next": {"v": 2}},
    1e30,
    10**12,
]


def check_schema(rng: random.Random, case: dict) -> tuple:
    schema = gen_schema(rng)
    source = case["source"] = json.dumps(schema)
    grammar = grammar_from_json_schema(schema, limits=LIMITS)
    compiled = constrain.compile(grammar, BYTES, limits=LIMITS)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    # Numbers as Decimal on both sides: multipleOf is exact arithmetic, and with floats
    # jsonschema finds 8.7 no multiple of 0.01 (8.7 / 0.01 = 869.9999999999999).
    validator = cls(json.loads(source, parse_float=Decimal), format_checker=cls.FORMAT_CHECKER)

    def valid(doc) -> Optional[bool]:
        try:
            return validator.is_valid(doc)
        except RecursionError:  # jsonschema cannot decide a self-referential schema
            return True
        except re.error:  # a pattern in ECMA-262 syntax Python's re lacks (\p{L}): no verdict
            return None
        except ArithmeticError:  # a Decimal past the context's exponent range: no verdict
            return None

    # jsonschema reads a pattern with Python's re, whose \d, \w, \s and \b are Unicode-aware;
    # ECMA-262's \d and \w are ASCII (U+AA51 CHAM DIGIT ONE is no \d): no verdict on non-ASCII
    # text where a pattern uses them.
    unicode_escapes = re.search(r"\\\\[dwsbDWSB]", source) is not None
    # RFC 3339's full-date has a 4-digit year, 0000 included; jsonschema checks "date" with
    # Python's datetime, whose years start at 1: no verdict on a date in year 0.
    year_zero_dates = '"format": "date' in source
    for _ in range(12):
        text = walk(compiled, rng, max_bytes=160, stop=0.5)
        if text is None or (unicode_escapes and not text.isascii()):
            continue
        if year_zero_dates and b'"0000-' in text:
            continue
        try:
            doc = json.loads(text, parse_float=_json_number)
        except _NoVerdict:
            continue
        except ValueError:
            raise ContractError(f"schema {source}: the masks led to {text!r}, which is not JSON") from None
        if valid(doc) is False:
            raise ContractError(f"schema {source}: the masks led to {text!r}, which jsonschema rejects")
    for doc in _CANDIDATES:
        text = json.dumps(doc, separators=(",", ":")).encode()
        if accepts(compiled, text) and valid(json.loads(text, parse_float=_json_number)) is False:
            raise ContractError(f"schema {source}: the matcher accepts {text!r}, which jsonschema rejects")
    return source, "compiled"


# --- Lark and GBNF ---------------------------------------------------------------------------


def gen_lark(rng: random.Random) -> str:
    n = rng.randint(1, 4)
    rules = [f"r{i}" for i in range(n)]
    terminals = {"WORD": "/[a-z]+/", "NUM": "/[0-9]+/", "SEP": '","', "OP": "/[+*-]/"}

    def item(depth: int) -> str:
        r = rng.random()
        if depth > 2 or r < 0.4:
            return rng.choice(['"x"', '"("', '")"', '"ab"', "WORD", "NUM", "SEP", "OP", "/[ab]/"] + rules)
        if r < 0.6:
            return "(" + expansion(depth + 1) + ")" + rng.choice(["*", "+", "?", ""])
        if r < 0.7:
            return "[" + expansion(depth + 1) + "]"
        if r < 0.75:
            return rng.choice(['"x"', "WORD", "NUM"] + rules) + f"~{rng.randint(1, 3)}"
        return item(depth + 1) + " " + item(depth + 1)

    def expansion(depth: int) -> str:
        return " | ".join(" ".join(item(depth) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3)))

    lines = ["start: " + expansion(0)] + [f"{r}: " + expansion(0) for r in rules]
    lines += [f"{k}: {v}" for k, v in terminals.items()]
    if rng.random() < 0.5:
        lines.append('%ignore " "')
    if rng.random() < 0.05:
        lines.append(rng.choice(["start: (", 'X.2: "a"', "%declare Y", "r9: r10"]))
    return "\n".join(lines)


def gen_gbnf(rng: random.Random) -> str:
    n = rng.randint(1, 4)
    rules = [f"r{i}" for i in range(n)]

    def item(depth: int) -> str:
        r = rng.random()
        if depth > 2 or r < 0.45:
            return rng.choice(['"x"', '"ab"', "[a-c]", "[^a]", ".", '"("', '")"', "[0-9]"] + rules)
        if r < 0.7:
            return "(" + alts(depth + 1) + ")" + rng.choice(["*", "+", "?", "", "{2}", "{1,3}", "{0,}"])
        return item(depth + 1) + " " + item(depth + 1)

    def alts(depth: int) -> str:
        return " | ".join(" ".join(item(depth) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3)))

    lines = ["root ::= " + alts(0)] + [f"{r} ::= " + alts(0) for r in rules]
    if rng.random() < 0.05:
        lines.append(rng.choice(['r9 ::= "a"{100000000000000000000}', "r8 ::= (", "r7 ::= <[12]>", "r6 ::= [z-a]"]))
    return "\n".join(lines)


def _check_walks(compiled, rng: random.Random, source: str) -> None:
    for _ in range(8):
        text = walk(compiled, rng)
        if text is not None and not accepts(compiled, text):
            raise ContractError(f"{source!r}: the masks led to {text!r}, which a fresh matcher does not accept")


def check_lark(rng: random.Random, case: dict) -> tuple:
    text = case["source"] = gen_lark(rng)
    compiled = constrain.compile(Grammar.from_lark(text), BYTES, limits=LIMITS)
    _check_walks(compiled, rng, text)
    return text, "compiled"


def check_gbnf(rng: random.Random, case: dict) -> tuple:
    text = case["source"] = gen_gbnf(rng)
    compiled = constrain.compile(grammar_from_gbnf(text, limits=LIMITS), BYTES, limits=LIMITS)
    _check_walks(compiled, rng, text)
    return text, "compiled"


# --- deep, huge and absurd input ------------------------------------------------------------


def _nested_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _deep_inputs(rng: random.Random, depth: int, count: int) -> list:
    """(description, build) pairs of hostile input of every front end."""
    big = rng.choice([10**6, 10**12, 10**20, 2**64])
    return [
        (f"regex ( x{depth}", lambda: Grammar.from_regex("(" * depth + "a" + ")" * depth)),
        (f"regex (?: x{depth} *", lambda: Grammar.from_regex("(?:" * depth + "a" + ")*" * depth)),
        (f"regex a{{{big}}}", lambda: Grammar.from_regex(f"a{{{big}}}")),
        (f"regex (.{{0,{count}}}){{0,{count}}}", lambda: Grammar.from_regex(f"(.{{0,{count}}}){{0,{count}}}")),
        (f"gbnf ( x{depth}", lambda: grammar_from_gbnf("root ::= " + "(" * depth + '"a"' + ")" * depth, limits=LIMITS)),
        (
            f"gbnf chain {count * 10}",
            lambda: grammar_from_gbnf(
                "\n".join([f"r{i} ::= r{i + 1}" for i in range(count * 10)] + [f'r{count * 10} ::= "a"']),
                start="r0",
                limits=LIMITS,
            ),
        ),
        (f"gbnf {{{big}}}", lambda: grammar_from_gbnf(f'root ::= "a"{{{big}}}', limits=LIMITS)),
        (
            f"gbnf {count * 20} alternatives",
            lambda: grammar_from_gbnf("root ::= " + " | ".join(f'"w{i}"' for i in range(count * 20)), limits=LIMITS),
        ),
        (f"lark ( x{depth}", lambda: Grammar.from_lark("start: " + "(" * depth + '"a"' + ")" * depth)),
        (f"lark [ x{depth}", lambda: Grammar.from_lark("start: " + "[" * depth + '"a"' + "]" * depth)),
        (
            f"lark terminal chain {count}",
            lambda: Grammar.from_lark(
                "start: T0\n" + "\n".join([f'T{i}: "a" T{i + 1}?' for i in range(count)] + [f'T{count}: "a"'])
            ),
        ),
        (
            f"schema items x{depth}",
            lambda: grammar_from_json_schema('{"items":' * depth + "{}" + "}" * depth, limits=LIMITS),
        ),
        (f"schema const [ x{depth}", lambda: grammar_from_json_schema({"const": _nested_list(depth)}, limits=LIMITS)),
        (
            f"schema enum {count * 100}",
            lambda: grammar_from_json_schema({"enum": list(range(count * 100))}, limits=LIMITS),
        ),
        (
            f"schema minimum {big}e{depth}",
            lambda: grammar_from_json_schema(
                {"type": "number", "minimum": float(f"{big}e{min(depth, 280)}")}, limits=LIMITS
            ),
        ),
        (
            f"schema multipleOf {big}",
            lambda: grammar_from_json_schema({"type": "integer", "multipleOf": big}, limits=LIMITS),
        ),
        (
            f"schema maxLength {big}",
            lambda: grammar_from_json_schema({"type": "string", "maxLength": big}, limits=LIMITS),
        ),
        ("schema NaN", lambda: grammar_from_json_schema({"minimum": float("nan")}, limits=LIMITS)),
        (
            "schema self-negating",
            lambda: grammar_from_json_schema(
                {"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}, limits=LIMITS
            ),
        ),
    ]


def check_deep(rng: random.Random, case: dict) -> tuple:
    depth = rng.choice([MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1, rng.randint(0, 3000)])
    count = rng.randint(1, 60)
    name, build = rng.choice(_deep_inputs(rng, depth, count))
    case["source"] = name
    try:
        grammar = build()
        constrain.compile(grammar, BYTES, limits=LIMITS)
    except ConstrainError as e:
        return name, type(e).__name__
    return name, "compiled"


# --- matcher misuse -----------------------------------------------------------------------

_MISUSE_GRAMMAR: list = []
_BAD_VALUES: List[Callable[[], object]] = [
    lambda: None,
    lambda: 1.5,
    lambda: "5",
    lambda: True,
    lambda: b"{",
    lambda: np.array([5]),
    lambda: np.float64(2.0),
    lambda: -1,
    lambda: 10**30,
    lambda: [1, 2],
    lambda: {"a": 1},
    lambda: float("nan"),
    lambda: object(),
    lambda: np.zeros((2, 3), dtype=np.int64),
    lambda: np.zeros(3, dtype=np.float32),
    lambda: 2**64,
    lambda: np.int64(-7),
    lambda: [None],
]


def check_misuse(rng: random.Random, case: dict) -> tuple:
    """One matcher verb with a wrong argument, after a few real steps: a library error or a
    result, and a refused call changes nothing (the next mask is the one before it)."""
    if not _MISUSE_GRAMMAR:
        schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
        _MISUSE_GRAMMAR.append(constrain.compile(grammar_from_json_schema(schema), BYTES))
    m = Matcher(_MISUSE_GRAMMAR[0])
    m.accept_bytes(b'{"a":[1'[: rng.randint(0, 7)])
    bad = rng.choice(_BAD_VALUES)()
    good = allocate_token_bitmask(2, BYTES.size)
    calls: List[Tuple[str, Callable[[], object]]] = [
        ("accept_token", lambda: m.accept_token(bad)),
        ("accept_tokens", lambda: m.accept_tokens(bad)),
        ("accept_tokens list", lambda: m.accept_tokens([bad])),
        ("validate_tokens", lambda: m.validate_tokens([bad])),
        ("try_token", lambda: m.try_token(bad)),
        ("try_tokens", lambda: m.try_tokens(bad)),
        ("rollback", lambda: m.rollback(bad)),
        ("accept_bytes", lambda: m.accept_bytes(bad)),
        ("fill index", lambda: m.fill_next_token_bitmask(good, bad)),
        ("fill bitmask", lambda: m.fill_next_token_bitmask(bad)),
        ("draft", lambda: m.fill_next_token_bitmasks_for_draft(good, [bad])),
        ("jump forward", lambda: m.find_jump_forward_bytes(bad)),
        ("allocate", lambda: allocate_token_bitmask(bad, BYTES.size)),
    ]
    name, call = rng.choice(calls)
    case["source"] = f"{name}({bad!r:.60})"
    before = allocate_token_bitmask(1, BYTES.size)
    m.fill_next_token_bitmask(before)
    try:
        call()
    except ConstrainError as e:
        after = allocate_token_bitmask(1, BYTES.size)
        m.fill_next_token_bitmask(after)
        if not np.array_equal(before, after):
            raise ContractError(f"{case['source']} raised {type(e).__name__} but changed the matcher") from None
        return case["source"], type(e).__name__
    m.fill_next_token_bitmask(good, 0)  # the matcher still works
    return case["source"], "compiled"


CHECKS = {
    "regex": check_regex,
    "schema": check_schema,
    "lark": check_lark,
    "gbnf": check_gbnf,
    "deep": check_deep,
    "misuse": check_misuse,
}


def run_case(kind: str, seed: int) -> Outcome:
    """Run one case; a library error is an outcome, anything else a failure."""
    rng = random.Random(f"{kind}:{seed}")
    start = time.monotonic()
    case = {"source": ""}
    try:
        _, result = CHECKS[kind](rng, case)
        outcome = Outcome(kind, seed, result, case["source"])
    except ContractError as e:
        outcome = Outcome(kind, seed, "contract", case["source"], failure=str(e))
    except ConstrainError as e:
        outcome = Outcome(kind, seed, type(e).__name__, case["source"])
        if not str(e):
            outcome.failure = f"{type(e).__name__} without a message"
    except Exception as e:  # noqa: BLE001 - the point: nothing else may escape
        outcome = Outcome(kind, seed, "crash", case["source"], failure=f"{type(e).__name__}: {e}"[:500])
    outcome.seconds = time.monotonic() - start
    if outcome.failure is None and outcome.seconds > CASE_SECONDS:
        outcome.failure = f"took {outcome.seconds:.1f}s, over {CASE_SECONDS}s"
    return outcome
