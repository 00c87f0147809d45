"""Reading and minimally updating `.env` so that python-dotenv and docker compose agree on it.

Two parsers read the file the wizard writes: docker compose (compose-go, for the stack) and
python-dotenv (for the wizard, always with `interpolate=False`). They disagree on escapes and `$`,
so `quote_value` only writes forms that both read back exactly, and refuses the few values that
have no such form. Parsing is python-dotenv's own (`dotenv.parser.parse_stream`), so `read_env`
returns what `dotenv_values(path, interpolate=False)` returns; on top of that, lines dotenv reads
but compose would not are reported as malformed too. No function here does I/O.

Error messages name keys and line numbers, never values: values are often secrets.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.stack.dotenv_parser import parser

if TYPE_CHECKING:
    from dotenv.parser import Binding

# python-dotenv's idea of a line break, so that our line numbers match its own.
_NEWLINE = re.compile(r"\r\n|\n|\r")
_BOM = "\ufeff"
# Names the wizard writes: portable shell variable names, which `${NAME}` in a compose file can use.
_WRITABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# compose-go accepts letters, digits and `_ . - [ ]` in a name and refuses to read a file with any
# other (python-dotenv also accepts a name in single quotes, which compose rejects).
_COMPOSE_KEY_PREFIX = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?([\w.\[\]-]+)[^\S\r\n]*=")
# Where a malformed statement starts: optional `export`, then a name and `=`, if there is one.
_STATEMENT_HEAD = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?([^=#\s]*)[^\S\r\n]*(=?)[^\S\r\n]*")
# Characters that make a bare (unquoted) value mean something else to one of the parsers.
_BARE_UNSAFE = frozenset("#$'\"")

_CONTROL_NAMES = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    "\0": "a NUL character",
}


class EnvValueError(ValueError):
    """A value `.env` cannot hold so that both parsers read it back; str() is one sentence that
    names the key and the characters to avoid, never the value."""


class EnvParseError(Exception):
    """The `.env` text has malformed lines; `problems` holds one `line N: ...` sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EnvEntry:
    """One `KEY=value` statement: its key, its value as dotenv reads it with `interpolate=False`,
    the 1-based line it starts on, and its exact text including its line break (if any)."""

    key: str
    value: str
    line: int
    text: str


# --- writing -------------------------------------------------------------------------------------


def quote_value(key: str, value: str) -> str:
    """The text to put after `KEY=` so that python-dotenv (`interpolate=False`) and docker compose
    both read back exactly `value`.

    Raises EnvValueError (naming `key`, never the value) for control characters, text that is not
    valid Unicode, and the few values no written form carries through both parsers.
    """
    _refuse_unwritable_characters(key, value)
    if "\\" not in value:
        # Single quotes: compose expands nothing inside them and both parsers read `\'` as `'`.
        return "'" + value.replace("'", "\\'") + "'"
    if value.endswith("\\"):
        # Quoted, python-dotenv up to 1.2.2 (which pyproject allows) reads the final backslash as
        # escaping the closing quote and swallows the following lines. Bare, both parsers take the
        # text as it is, so long as nothing in it starts a comment, an expansion or a quoted
        # value, or gets trimmed.
        if any(c in _BARE_UNSAFE or c.isspace() for c in value):
            raise EnvValueError(
                f"{key}: ends in a backslash and also contains a space, '#', '$' or a quote, "
                "which .env cannot hold together; drop the final backslash or those characters"
            )
        return value
    if "$" not in value:
        # Double quotes: both parsers turn `\\` into `\` and `\"` into `"`; compose would expand
        # `$` here, hence only without one.
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # `$` and backslashes: single quotes again. compose keeps every backslash there except in `\'`,
    # while python-dotenv also turns `\\` into `\`, so a value holding either pair has no form
    # both read the same way.
    if "\\\\" in value or "\\'" in value:
        raise EnvValueError(
            f"{key}: contains '$' together with a backslash followed by a backslash or a single "
            "quote, which docker compose and python-dotenv read differently; "
            "avoid '$' or those backslash pairs"
        )
    return "'" + value.replace("'", "\\'") + "'"


def format_line(key: str, value: str) -> str:
    """`KEY=<quoted value>` and a newline. Raises EnvValueError for a key that is not a portable
    variable name (letters, digits, `_`, not starting with a digit) or a value `quote_value`
    refuses."""
    if not _WRITABLE_KEY.fullmatch(key):
        raise EnvValueError(
            f"{key!r}: is not a usable variable name; "
            "use letters, digits and '_', not starting with a digit"
        )
    return f"{key}={quote_value(key, value)}\n"


def _refuse_unwritable_characters(key: str, value: str) -> None:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            # Newlines and carriage returns break the line; the other control characters survive
            # quoting but are invisible, and NUL cannot reach a process environment at all.
            what = _CONTROL_NAMES.get(char, "a control character")
            raise EnvValueError(
                f"{key}: contains {what}, which .env cannot hold; "
                "choose a value without control characters"
            )
        if category == "Cs":
            raise EnvValueError(
                f"{key}: contains bytes that are not valid UTF-8 text, which .env cannot hold; "
                "choose a value of ordinary characters"
            )


# --- reading -------------------------------------------------------------------------------------


def parse_env(text: str) -> list[EnvEntry | str]:
    """`text` as entries and verbatim chunks (comments, blank lines, a leading byte order mark).

    Joining the chunks and the entries' `text` gives back `text` exactly. Each entry's text starts
    at the beginning of its line and ends after its line break. Values are python-dotenv's, as read
    with `interpolate=False`. Raises EnvParseError listing every malformed line: what dotenv cannot
    parse, a name without `=`, and what compose cannot read (a quoted or odd name, a lone `\\r`).
    """
    items: list[EnvEntry | str] = []
    problems: list[str] = []
    body = text
    if body.startswith(_BOM):
        # python-dotenv drops a byte order mark before parsing; keep it so the join is exact.
        items.append(_BOM)
        body = body[len(_BOM) :]
    for binding, start, lead, statement in _statements(body):
        if lead:
            _append_chunk(items, lead)
        if not statement.strip():
            if statement:
                _append_chunk(items, statement)
        elif binding.error:
            problems.append(_describe_malformed(statement, start))
        elif binding.key is None:
            _append_chunk(items, statement)  # a comment line
        elif binding.value is None:
            # Not even the word is repeated: a line without '=' is often a secret pasted on a
            # line of its own, and this message reaches CI logs.
            problems.append(
                f"line {start}: has no '='; write it as KEY=value (a value pasted on a line of "
                "its own belongs after the '=' of its key) or delete the line"
            )
        else:
            problem = _compose_problem(binding.key, statement, start)
            if problem:
                problems.append(problem)
            items.append(EnvEntry(binding.key, binding.value, start, statement))
    problems.extend(_lone_carriage_returns(body))
    if problems:
        problems.sort(key=_line_number)
        raise EnvParseError(problems)
    return items


def read_env(text: str) -> dict[str, str]:
    """Key -> value as python-dotenv reads it with `interpolate=False`; a repeated key's last
    value wins, as in dotenv and compose. Raises EnvParseError."""
    return {item.key: item.value for item in parse_env(text) if isinstance(item, EnvEntry)}


def _statements(body: str) -> Iterator[tuple[Binding, int, str, str]]:
    """python-dotenv's statements as (binding, first line, leading blank lines, statement text).

    A statement dotenv cannot parse may have run on over the next lines (an unclosed quote reaches
    to the next quote in the file); parsing then resumes on the line after its first, so the lines
    it swallowed are checked too and every problem is reported in one go.
    """
    offset, line = 0, 1
    parse_stream = parser().parse_stream
    while offset < len(body):
        for binding in parse_stream(io.StringIO(body[offset:])):
            chunk = binding.original.string
            lead = _leading_blank_lines(chunk)
            statement = chunk[len(lead) :]
            start = line + _count_newlines(lead)
            first_break = _NEWLINE.search(statement)
            if binding.error and first_break and first_break.end() < len(statement):
                statement = statement[: first_break.end()]
                yield binding, start, lead, statement
                offset += len(lead) + len(statement)
                line = start + 1
                break
            yield binding, start, lead, statement
            offset += len(chunk)
            line += _count_newlines(chunk)
        else:
            return


def _append_chunk(items: list[EnvEntry | str], chunk: str) -> None:
    if items and isinstance(items[-1], str):
        items[-1] += chunk
    else:
        items.append(chunk)


def _leading_blank_lines(chunk: str) -> str:
    """The whole blank lines that start `chunk` (dotenv counts them into the next statement)."""
    ws = len(chunk) - len(chunk.lstrip())
    last_break = None
    for match in _NEWLINE.finditer(chunk, 0, ws):
        last_break = match.end()
    return chunk[:last_break] if last_break is not None else ""


def _count_newlines(text: str) -> int:
    return len(_NEWLINE.findall(text))


def _lone_carriage_returns(text: str) -> list[str]:
    """compose-go breaks lines only at `\\n`, so a line python-dotenv ends at a lone `\\r` runs on
    into the next one for compose (a comment swallows the entry after it)."""
    problems = []
    line = 1
    for match in _NEWLINE.finditer(text):
        if match.group() == "\r":
            problems.append(
                f"line {line}: ends in a lone carriage return (an old Mac line ending), which "
                "docker compose does not read as a line end; save the file with \\n line endings"
            )
        line += 1
    return problems


def _line_number(problem: str) -> int:
    return int(problem.split(":", 1)[0].removeprefix("line "))


def _compose_problem(key: str, statement: str, line: int) -> str | None:
    """Why compose would not read a statement that python-dotenv accepts, or None."""
    head = _COMPOSE_KEY_PREFIX.match(statement)
    if head is None or head.group(1) != key:
        return (
            # Not the name itself: a secret pasted on a line of its own can parse as a name.
            f"line {line}: the name before '=' holds characters docker compose refuses (or is "
            "in quotes); use letters, digits and '_' only, without quotes"
        )
    return None


def _describe_malformed(statement: str, line: int) -> str:
    """A `line N: ...` sentence for a statement python-dotenv cannot parse, without its value."""
    head = _STATEMENT_HEAD.match(statement)
    assert head is not None  # every part of the pattern can match empty
    name, equals = head.group(1), head.group(2)
    rest = statement[head.end() :]
    if not name and equals:
        return f"line {line}: has a value but no name before '='; write KEY=value or delete it"
    if not _WRITABLE_KEY.fullmatch(name) or not equals:
        return (
            f"line {line}: is not a KEY=value line; write KEY=value, a comment starting with '#', "
            "or a blank line"
        )
    quote = rest[:1]
    if quote in ("'", '"'):
        closed = re.match(rf"{quote}(?:\\.|[^{quote}\\])*{quote}", rest, re.DOTALL)
        if closed is None or _NEWLINE.search(closed.group()):
            # A value that runs on past its line here is nearly always a missing closing quote.
            return (
                f"line {line}: the quoted value of {name} is not closed on its line; add the "
                f"closing {quote}, or quote the value with the other kind of quote"
            )
        return (
            f"line {line}: text follows the closing {quote} of {name}'s value; put the whole value "
            "inside the quotes, or start a comment with ' #'"
        )
    return f"line {line}: {name}'s value cannot be parsed; put it in single quotes"


# --- updating ------------------------------------------------------------------------------------


def update_env(text: str, values: Mapping[str, str], template: str) -> str:
    """`text` with each key of `values` set, changing as little as possible.

    A key already in `text` (its last occurrence, the one both parsers use) whose value differs gets
    that entry's text replaced by `format_line`, keeping the entry's line break; an equal value
    leaves its bytes alone. Missing keys are appended at the end, in the template's order and then
    in the order of `values`, each after a blank line and the comment block that sits directly
    above it in `template`. Everything else stays byte-identical. A fresh file is
    `update_env(template, values, template)`.

    Raises EnvValueError (a value `quote_value` refuses, a bad key) and EnvParseError (malformed
    `text` or `template`).
    """
    items = parse_env(text)
    last: dict[str, int] = {}
    for index, item in enumerate(items):
        if isinstance(item, EnvEntry):
            last[item.key] = index

    # Format everything first, so a refused value leaves nothing half-done and every refusal
    # surfaces before any output is built.
    lines = {key: format_line(key, value) for key, value in values.items()}

    out: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            out.append(item)
        elif last.get(item.key) == index and item.key in values and item.value != values[item.key]:
            out.append(_rewritten(item, lines[item.key]))
        else:
            out.append(item.text)

    missing = [key for key in values if key not in last]
    if not missing:
        return "".join(out)

    blocks = _comment_blocks(template)
    order = {key: position for position, key in enumerate(blocks)}
    missing.sort(key=lambda key: order.get(key, len(order)))
    result = "".join(out)
    if result and not result.endswith(("\n", "\r")):
        result += "\n"
    for key in missing:
        if result and not result.endswith(("\n\n", "\r\n\r\n")):
            result += "\n"
        result += blocks.get(key, "") + lines[key]
    return result


def _rewritten(entry: EnvEntry, new_line: str) -> str:
    """`new_line` in place of `entry`, keeping what a person wrote around the value: the
    indentation and `export ` before the key, an inline comment after it, the line break."""
    return _with_line_break_of(
        entry.text, export_prefix(entry.text) + new_line.removesuffix("\n") + _inline_comment(entry)
    )


def export_prefix(text: str) -> str:
    """The indentation and `export ` a statement starts with ("" when it has neither)."""
    head = _EXPORT_HEAD.match(text)
    assert head is not None  # every part of the pattern can match empty
    return head.group()


_EXPORT_HEAD = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?")
_COMMENT_START = re.compile(r"[ \t]+#")


def _inline_comment(entry: EnvEntry) -> str:
    """The ` # ...` after the value on the entry's last line, as written ("" when none).

    It starts at the first blank-then-`#` whose text before it python-dotenv reads as the same
    statement: a `#` inside a quoted value, or one not preceded by a blank, is part of the value.
    """
    body = entry.text.rstrip("\r\n")
    last_line = max(body.rfind("\n"), body.rfind("\r")) + 1
    for match in _COMMENT_START.finditer(body, last_line):
        bindings = list(parser().parse_stream(io.StringIO(body[: match.start()])))
        if (
            len(bindings) == 1
            and not bindings[0].error
            and (bindings[0].key, bindings[0].value) == (entry.key, entry.value)
        ):
            return body[match.start() :]
    return ""


def _with_line_break_of(old: str, new_line: str) -> str:
    """`new_line` (ending in `\\n`) with the line break `old` ends in: CRLF stays CRLF, and the last
    line of a file without a final newline stays without one."""
    body = new_line.removesuffix("\n")
    match = re.search(r"(\r\n|\n|\r)\Z", old)
    return body + (match.group(1) if match else "")


def _comment_blocks(template: str) -> dict[str, str]:
    """Key -> the contiguous `#` comment lines directly above its entry in `template`, verbatim."""
    items = parse_env(template)
    blocks: dict[str, str] = {}
    preceding = ""
    for item in items:
        if isinstance(item, str):
            preceding = item
            continue
        lines = _NEWLINE.split(preceding)
        breaks = _NEWLINE.findall(preceding)
        # A chunk before an entry ends with a line break, so its last split part is empty.
        comment: list[str] = []
        for part, brk in zip(reversed(lines[:-1]), reversed(breaks), strict=True):
            if not part.lstrip().startswith("#"):
                break
            comment.insert(0, part + brk)
        blocks.setdefault(item.key, "".join(comment))
        preceding = ""
    return blocks
