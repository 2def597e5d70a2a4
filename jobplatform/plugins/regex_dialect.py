"""Python `re` patterns (what cerberus's `regex` rule runs) rewritten for JSON Schema, whose
`pattern` is an ECMA-262 regular expression with the `u` flag.

The rewrite reads the pattern with Python's own parser and writes it back in the syntax
both dialects share, so that Python's `re` and an ECMA-262 engine (JavaScript, Java, .NET,
Rust's fancy-regex) match the same strings:

- anchors: `$` (end, or before a final newline), `\\Z` and `\\A` become lookarounds that
  mean exactly that in both; `.` becomes `[^\\n]` (ECMA's `.` also stops at `\\r`);
- `\\d`, `\\s` (and, under `(?a)`, `\\w` and `\\b`) become the characters Python matches,
  spelled out (ECMA-262's differ), and so do letters under `(?i)`, with Python's case
  folding;
- `(?m)` and `(?s)` are carried out in the rewrite; named groups become numbered ones (a
  name does not change what matches, and the dialects spell names differently); escapes
  the `u` flag refuses (`\\"`) become plain characters.

Unicode `\\w` and `\\b` stay as they are (spelled out they would be thousands of ranges)
and are named in the notes: ECMA-262 reads them as ASCII. A pattern with a construct
ECMA-262 lacks (possessive or atomic repeats, conditional groups, a back-reference that
ignores case) gets no `pattern` at all, and the notes name it. Engines without lookarounds
(Go's RE2) cannot run the anchors.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from re import _constants as sre  # the parser's opcodes (Python 3.11+)
from re import _parser

SYNTAX_CHARS = set("^$\\.*+?()[]{}|/")
CLASS_SPECIAL = set("\\]^-[")
END = r"(?![\s\S])"
UNICODE_WORD_NOTE = r"\w and \b match Unicode letters and digits here, ASCII ones in ECMA-262"


class Untranslatable(Exception):
    """A construct ECMA-262 has no spelling for; the message names it."""


@cache
def cerberus_pattern(regex: str) -> tuple[str | None, tuple[str, ...]]:
    """The JSON Schema `pattern` for cerberus's `regex` rule (None when there is none),
    and what it does not express.

    cerberus appends `$` unless the pattern ends with one and matches at the start
    (`re.match`), so `[a-z]+` accepts "abc" and "abc\\n"; JSON Schema searches anywhere,
    so the result is anchored at the start.
    """
    effective = regex if regex.endswith("$") else regex + "$"
    try:
        body, notes = ecma_pattern(effective)
    except re.error as exc:
        return None, (f"regex (not a valid pattern: {exc})",)
    except Untranslatable as exc:
        return None, (f"regex ({exc})",)
    return f"^(?:{body})", tuple(notes)


def ecma_pattern(pattern: str) -> tuple[str, list[str]]:
    """`pattern` in the syntax Python's `re` and ECMA-262 share, with `re.search`'s
    meaning; the notes name what still differs. Raises Untranslatable or re.error."""
    parsed = _parser.parse(pattern)
    writer = _Writer()
    return writer.sequence(parsed, parsed.state.flags), sorted(writer.notes)


def literal(text: str) -> str:
    """`text` as a pattern that matches it literally, in both dialects."""
    return "".join(_char(ord(c)) for c in text)


class _Writer:
    def __init__(self):
        self.notes: set[str] = set()

    def sequence(self, items, flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op, av, flags: int) -> str:
        if flags & re.IGNORECASE and op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN):
            return _matched_set(self.item(op, av, flags & ~re.IGNORECASE), re.IGNORECASE)
        if op is sre.LITERAL:
            return _char(av)
        if op is sre.NOT_LITERAL:
            return f"[^{_class_char(av)}]"
        if op is sre.ANY:
            return r"[\s\S]" if flags & re.DOTALL else r"[^\n]"
        if op is sre.IN:
            return self.char_class(av, flags)
        if op is sre.AT:
            return self.anchor(av, flags)
        if op is sre.BRANCH:
            return "(?:" + "|".join(self.sequence(branch, flags) for branch in av[1]) + ")"
        if op is sre.SUBPATTERN:
            return self.group(*av, flags)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = av
            lazy = "?" if op is sre.MIN_REPEAT else ""
            return self.atom(inner, flags) + _quantifier(low, high) + lazy
        if op is sre.GROUPREF:
            if flags & re.IGNORECASE:
                raise Untranslatable("a back-reference that ignores case")
            return f"(?:\\{av})"
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            direction, inner = av
            kind = _LOOKAROUND[op is sre.ASSERT, direction]
            return f"(?{kind}{self.sequence(inner, flags)})"
        raise Untranslatable(f"{str(op).lower()} has no ECMA-262 spelling")

    def atom(self, items, flags: int) -> str:
        """`items` as one unit a quantifier can follow."""
        text = self.sequence(items, flags)
        single = len(items) == 1 and items[0][0] in (
            sre.LITERAL,
            sre.NOT_LITERAL,
            sre.ANY,
            sre.IN,
            sre.SUBPATTERN,
            sre.GROUPREF,
        )
        return text if single else f"(?:{text})"

    def group(self, gid, add_flags: int, del_flags: int, inner, flags: int) -> str:
        text = self.sequence(inner, (flags | add_flags) & ~del_flags)
        return f"(?:{text})" if gid is None else f"({text})"

    def anchor(self, at, flags: int) -> str:
        multiline = flags & re.MULTILINE
        if at is sre.AT_BEGINNING:
            return r"(?:^|(?<=\n))" if multiline else "^"
        if at is sre.AT_BEGINNING_STRING:
            return "^"
        if at is sre.AT_END:
            return rf"(?=\n|{END})" if multiline else rf"(?=\n?{END})"
        if at is sre.AT_END_STRING:
            return END
        if flags & re.ASCII:  # spelled out: Python without the flag reads \b as Unicode
            word = _matched_set(r"\w", re.ASCII)
            edge = f"(?<={word})(?!{word})|(?<!{word})(?={word})"
            inside = f"(?<={word})(?={word})|(?<!{word})(?!{word})"
            return f"(?:{edge if at is sre.AT_BOUNDARY else inside})"
        self.notes.add(UNICODE_WORD_NOTE)
        return r"\b" if at is sre.AT_BOUNDARY else r"\B"

    def char_class(self, items, flags: int) -> str:
        negate = bool(items) and items[0][0] is sre.NEGATE
        parts = []
        for op, av in items[1:] if negate else items:
            if op is sre.LITERAL:
                parts.append(_class_char(av))
            elif op is sre.RANGE:
                parts.append(f"{_class_char(av[0])}-{_class_char(av[1])}")
            elif op is sre.CATEGORY:
                parts.append(self.category(av, flags))
            else:
                raise Untranslatable(f"{str(op).lower()} in a character class")
        return f"[{'^' if negate else ''}{''.join(parts)}]"

    def category(self, category, flags: int) -> str:
        escape = _CATEGORIES.get(category)
        if escape is None:
            raise Untranslatable(str(category).lower())
        if escape in (r"\w", r"\W") and not flags & re.ASCII:
            self.notes.add(UNICODE_WORD_NOTE)
            return escape
        return _matched_set(escape, flags & re.ASCII)[1:-1]


_LOOKAROUND = {(True, 1): "=", (False, 1): "!", (True, -1): "<=", (False, -1): "<!"}
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}


@cache
def _matched_set(piece: str, flags: int) -> str:
    """A character class of every character Python's `re` matches with the one-character
    `piece` under `flags`, found by asking it: how \\d, \\s, ASCII \\w and case-insensitive
    letters are spelled out (ECMA-262's differ; Unicode \\w would be thousands of ranges)."""
    runs = re.finditer(f"(?:{piece})+", _every_char(), flags)
    ranges = ((m.start(), m.end() - 1) for m in runs)
    return (
        "["
        + "".join(
            _class_char(low) if low == high else f"{_class_char(low)}-{_class_char(high)}"
            for low, high in ranges
        )
        + "]"
    )


@cache
def _every_char() -> str:
    return "".join(map(chr, range(sys.maxunicode + 1)))


def _quantifier(low: int, high: int) -> str:
    if high == sre.MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def _char(code: int) -> str:
    char = chr(code)
    if char in SYNTAX_CHARS:
        return "\\" + char
    return _plain(code)


def _class_char(code: int) -> str:
    char = chr(code)
    if char in CLASS_SPECIAL:
        return "\\" + char
    return _plain(code)


def _plain(code: int) -> str:
    """A character as itself when printable ASCII or beyond the BMP (no escape for those
    is common to both dialects), else as \\uXXXX."""
    if 0x20 <= code < 0x7F or code > 0xFFFF:
        return chr(code)
    return f"\\u{code:04x}"
