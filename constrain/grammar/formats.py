"""JSON Schema ``format`` values as IR regexes over the decoded string's characters.

Every regex here accepts only strings that are valid for the format (a subset where the full
language is not regular or not worth it: leap seconds are excluded from ``time``, ``email``
takes RFC 5322 dot-atoms only, hostname labels are at most 20 characters, IRIs, IDN host names and
e-mails and URI templates take their ASCII/URI subsets, URIs take IPv6 literals but not IPvFuture). Formats that are
pure annotations for the value (``password``, OpenAPI's ``float``/``double``) map to ``None``.
Numeric OpenAPI formats (``int32``, ``int64``, ...) are bounds, see :data:`INTEGER_FORMATS`.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from ..cache import memoize
from .ecma_regex import parse_ecma
from .ir import MAX_CODE_POINT, And, Chars, Not, Regex, Repeat, literal, repeat, seq

_YEAR = r"\d{4}"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))"
)
_LEAP_YEAR = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
DATE = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME_NUMOFFSET = r"[+-](?:[01]\d|2[0-3]):[0-5]\d"
TIME = rf"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[zZ]|{_TIME_NUMOFFSET})"
DATE_TIME = rf"{DATE}[tT]{TIME}"
DURATION = (
    r"P(?:(?:(?:\d+D|\d+M(?:\d+D)?|\d+Y(?:\d+M(?:\d+D)?)?)"
    r"(?:T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S))?)"
    r"|T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S)|\d+W)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{IPV4})"
IPV6 = (
    "(?:"
    rf"(?:{_H16}:){{6}}{_LS32}"
    rf"|::(?:{_H16}:){{5}}{_LS32}"
    rf"|(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}"
    rf"|(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}"
    rf"|(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}"
    rf"|(?:(?:{_H16}:){{0,6}}{_H16})?::"
    ")"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_SHAPE = rf"{_LABEL}(?:\.{_LABEL})*"
# Hostnames are at most 253 characters; counting that inside the label structure takes a
# DFA state per position and label shape, so labels of at most 20 characters, at most 12 of
# them (<= 251 characters), stand in for it: a subset of the valid hostnames.
_SHORT_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,18}[A-Za-z0-9])?"
UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
EMAIL_LOCAL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"

# RFC 3986, collected ABNF.
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED = r"[A-Za-z0-9._~-]"
_SUB_DELIMS = r"[!$&'()*+,;=]"
_PCHAR = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|[:@])"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_SEGMENT_NZ_NC = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|@)+"
_USERINFO = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|:)*"
_REG_NAME = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS})*"
_HOST = rf"(?:\[{IPV6}\]|{_REG_NAME})"
_AUTHORITY = rf"(?:{_USERINFO}@)?{_HOST}(?::\d*)?"
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = rf"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_PATH_ROOTLESS = rf"{_SEGMENT_NZ}(?:/{_SEGMENT})*"
_PATH_NOSCHEME = rf"{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"
_HIER = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS}|)"
URI = rf"{_SCHEME}:{_HIER}(?:\?{_QUERY})?(?:#{_QUERY})?"
_RELATIVE = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME}|)"
URI_REFERENCE = rf"(?:{URI}|{_RELATIVE}(?:\?{_QUERY})?(?:#{_QUERY})?)"
# RFC 6570 (levels 1 to 4), without the non-ASCII ucschar/iprivate literals. Literals exclude
# space, '"', "'", "%" (but for %XX), "<", ">", "\\", "^", "`", "{", "|" and "}".
_TEMPLATE_LITERAL = rf"(?:[!#$&()*+,\-./0-9:;=?@A-Z\[\]_a-z~]|{_PCT})"
_VARCHAR = rf"(?:[A-Za-z0-9_]|{_PCT})"
_VARSPEC = rf"{_VARCHAR}(?:\.?{_VARCHAR})*(?::[1-9]\d{{0,3}}|\*)?"
_EXPRESSION = rf"\{{[+#./;?&=,!@|]?{_VARSPEC}(?:,{_VARSPEC})*\}}"
URI_TEMPLATE = rf"(?:{_TEMPLATE_LITERAL}|{_EXPRESSION})*"
JSON_POINTER = r"(?:/(?:[^~/]|~[01])*)*"
RELATIVE_JSON_POINTER = rf"(?:0|[1-9]\d*)(?:#|{JSON_POINTER})"

_PATTERNS: Dict[str, str] = {
    "date": DATE,
    "time": TIME,
    "date-time": DATE_TIME,
    "duration": DURATION,
    "ipv4": IPV4,
    "ipv6": IPV6,
    "uuid": UUID,
    "uri": URI,
    "uri-reference": URI_REFERENCE,
    "json-pointer": JSON_POINTER,
    "relative-json-pointer": RELATIVE_JSON_POINTER,
    # Subsets: every URI is an IRI, every URI reference is an IRI reference.
    "iri": URI,
    "iri-reference": URI_REFERENCE,
    "uri-template": URI_TEMPLATE,
}

#: Formats that never constrain a string (annotations only).
ANNOTATION_FORMATS = frozenset({"password", "float", "double", "binary", "textarea"})

#: OpenAPI integer formats: the inclusive bounds they put on integers.
INTEGER_FORMATS: Dict[str, Tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


def _hostname() -> Regex:
    # Labels with "--" in the 3rd and 4th positions are reserved (RFC 5891 4.2.3.1), and
    # "xn--" A-labels would need Punycode and IDNA checks: both are left out.
    label = And((parse_ecma(_SHORT_LABEL), Not(parse_ecma("[A-Za-z0-9-]{2}--[A-Za-z0-9-]*"))))
    return seq(label, repeat(seq(literal("."), label), 0, 11))


# Bound: only the ~25 names of KNOWN_FORMATS return (others raise, which is not cached).
@memoize("grammar.format_regexes", maxsize=64)
def format_regex(name: str) -> Optional[Regex]:
    """The regex (over decoded characters) of the strings valid for format ``name``.

    Returns:
        The regex; ``None`` when the format puts no constraint on strings.

    Raises:
        KeyError: the format is not known (callers fail closed).
    """
    if name in ANNOTATION_FORMATS or name in INTEGER_FORMATS:
        return None
    if name in _PATTERNS:
        return parse_ecma(_PATTERNS[name])
    if name in ("hostname", "idn-hostname"):  # ASCII host names are IDN host names too
        return _hostname()
    if name in ("email", "idn-email"):
        local = And((parse_ecma(EMAIL_LOCAL), Repeat(Chars(((0, MAX_CODE_POINT),)), 1, 64)))
        return seq(local, literal("@"), _hostname())
    raise KeyError(name)


#: The format names JSON Schema itself defines (drafts 4 to 2020-12). A validator may check
#: these, so one this module cannot enforce makes a schema unsupported; any other name is a
#: custom annotation that validators ignore (as ``jsonschema``'s format checker does).
SPEC_FORMATS = frozenset(
    {
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)

#: Every format name this module knows (string formats, annotations and integer formats).
KNOWN_FORMATS = (
    frozenset(_PATTERNS)
    | {"hostname", "email", "idn-hostname", "idn-email"}
    | ANNOTATION_FORMATS
    | frozenset(INTEGER_FORMATS)
)

__all__ = ("ANNOTATION_FORMATS", "INTEGER_FORMATS", "KNOWN_FORMATS", "SPEC_FORMATS", "format_regex")
