"""Shell-style name matching with the semantics of Go's `path.Match`, used by pit's FTP listing and triggers.

Differences from Python's `fnmatch`: matching is case-sensitive everywhere, `*` and `?` never match `/`,
a class is negated with `^` only (`[!x]` is the class of `!` and `x`), `\\` escapes the next character,
and a malformed pattern (`[`, `[]`, `a\\`, `[z-]`) matches nothing. Characters are compared as code points.
"""

from __future__ import annotations

__all__ = ["go_path_match", "is_valid_go_pattern"]


class _BadPattern(Exception):
    """The pattern is not syntactically valid (Go's `path.ErrBadPattern`)."""


def go_path_match(pattern: str, name: str) -> bool:
    """True when `name` matches the Go `path.Match` pattern; False for no match and for a malformed pattern.

    Example:
        >>> go_path_match("sales_*.csv", "sales_1.csv"), go_path_match("sales_*.csv", "SALES_1.csv")
        (True, False)
        >>> go_path_match("[!a]*.csv", "a.csv"), go_path_match("[^a]*.csv", "a.csv"), go_path_match("[", "[")
        (True, False, False)
    """
    if not is_valid_go_pattern(pattern):
        return False
    try:
        return _match(pattern, name)
    except _BadPattern:  # pragma: no cover - the pattern was validated above
        return False


def is_valid_go_pattern(pattern: str) -> bool:
    """True when Go's `path.Match` would accept `pattern` (balanced classes, no dangling escape or range).

    Example:
        >>> is_valid_go_pattern("*.csv"), is_valid_go_pattern("[a-"), is_valid_go_pattern("x\\\\")
        (True, False, False)
    """
    rest = pattern
    try:
        while rest:
            _, chunk, rest = _scan_chunk(rest)
            _match_chunk(chunk, "")
    except _BadPattern:
        return False
    return True


def _match(pattern: str, name: str) -> bool:
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            # a trailing star matches whatever is left, as long as it has no separator
            return "/" not in name
        rest = _match_chunk(chunk, name)
        # without a star the chunk must match here; the last chunk must also consume the whole name
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            # let the star swallow 1..n leading non-separator characters, then retry the chunk
            advanced = False
            for i, char in enumerate(name):
                if char == "/":
                    break
                rest = _match_chunk(chunk, name[i + 1 :])
                if rest is not None:
                    if not pattern and rest:
                        continue
                    name = rest
                    advanced = True
                    break
            if advanced:
                continue
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Split off leading stars and the literal/class chunk that follows them, up to the next star."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1  # skip the escaped character (a dangling escape is reported when matching)
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "*" and not in_class:
            break
        i += 1
    i = min(i, len(pattern))
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """Match `chunk` (no stars outside classes) at the start of `s`; the rest of `s`, or None.

    The whole chunk is always parsed, even after a mismatch, so syntax errors are never hidden.
    """
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            char = ""
            if not failed:
                char, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                low, chunk = _class_char(chunk)
                high = low
                if chunk.startswith("-"):
                    high, chunk = _class_char(chunk[1:])
                if char and low <= char <= high:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _class_char(chunk: str) -> tuple[str, str]:
    """One (possibly escaped) character of a class and the rest; a class must be followed by more text."""
    if not chunk or chunk[0] in "-]":
        raise _BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    char, rest = chunk[0], chunk[1:]
    if not rest:
        raise _BadPattern
    return char, rest
