"""Read one SDK request as pit's Go server does (`json.Decoder` into `{Method string; Params map[string]string}`).

A request is complete as soon as one whole JSON value has arrived; what is wrong with it is said in the words
of Go's decoder (`unexpected EOF`, `invalid character 'x' looking for beginning of value`,
`json: cannot unmarshal number into Go struct field Request.params of type string`), which pit sends back
after `invalid request: `. Go's decoding rules are kept too: field names match case-insensitively, `null`
leaves a string empty, the first type error wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_SPACE = " \t\r\n"
_LITERALS = {"t": "true", "f": "false", "n": "null"}
_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestError(ValueError):
    """A request pit's server would refuse; the message is Go's (pit prefixes it with `invalid request: `)."""


@dataclass(frozen=True)
class SdkRequest:
    """A decoded request.

    Example:
        >>> decode_request('{"method": "get_secret", "params": {"key": "db"}}')
        SdkRequest(method='get_secret', params={'key': 'db'})
    """

    method: str
    params: dict[str, str] = field(default_factory=dict)


def complete_length(text: str, *, at_eof: bool) -> int | None:
    """How many characters of `text` hold the first JSON value, or None while more input may complete it.

    Raises `RequestError` for a syntax error, or at EOF for an empty or truncated value (`EOF`,
    `unexpected EOF`).

    Example:
        >>> complete_length('{"a": 1}  ', at_eof=False), complete_length('{"a": ', at_eof=False)
        (8, None)
    """
    scanner = _Scanner(text, at_eof)
    try:
        return scanner.top()
    except _NeedMore:
        if not at_eof:
            return None
        raise RequestError("unexpected EOF" if text.strip(_SPACE) else "EOF") from None


def decode_request(text: str) -> SdkRequest:
    """The request in `text` (one complete JSON value, see `complete_length`), with Go's type rules.

    Example:
        >>> decode_request('{"METHOD": "x", "params": {"key": null}}')
        SdkRequest(method='x', params={'key': ''})
        >>> try:
        ...     decode_request('{"method": "x", "params": {"key": 1}}')
        ... except RequestError as exc:
        ...     print(exc)
        json: cannot unmarshal number into Go struct field Request.params of type string
    """
    value = json.loads(text, object_pairs_hook=_Object)
    if value is None:
        return SdkRequest("")
    if not isinstance(value, _Object):
        raise RequestError(f"json: cannot unmarshal {_kind(value)} into Go value of type sdk.Request")
    method = ""
    params: dict[str, str] | None = None
    errors: list[str] = []
    for key, item in value:
        name = _field(key)
        if name == "method":
            if isinstance(item, str):
                method = _clean(item)
            elif item is not None:
                errors.append(_type_error(item, "method", "string"))
        elif name == "params":
            if item is None:
                params = None
            elif isinstance(item, _Object):
                params = params if params is not None else {}
                for param, text_value in item:
                    if text_value is None:
                        params[_clean(param)] = ""
                    elif isinstance(text_value, str):
                        params[_clean(param)] = _clean(text_value)
                    else:
                        errors.append(_type_error(text_value, "params", "string"))
            else:
                errors.append(_type_error(item, "params", "map[string]string"))
    if errors:
        raise RequestError(errors[0])
    return SdkRequest(method, params or {})


def _field(key: str) -> str | None:
    """Go's struct field matching: exact name first, else a case-insensitive match."""
    if key in ("method", "params"):
        return key
    folded = "".join(c.lower().upper() for c in key)
    return {"METHOD": "method", "PARAMS": "params"}.get(folded)


def _clean(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


class _Object(list):  # noqa: FURB189 - a marker type for decoded JSON objects
    """A decoded JSON object as its (key, value) pairs (keeps `{}` apart from `[]`)."""


def _kind(value: Any) -> str:
    """The JSON kind Go names in a type error."""
    if isinstance(value, _Object):
        return "object"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array"


def _type_error(value: Any, field_name: str, go_type: str) -> str:
    return f"json: cannot unmarshal {_kind(value)} into Go struct field Request.{field_name} of type {go_type}"


class _NeedMore(Exception):
    pass


class _Scanner:
    """Go's JSON syntax check over one value, with Go's error texts."""

    def __init__(self, text: str, at_eof: bool) -> None:
        self.text = text
        self.at_eof = at_eof
        self.pos = 0

    def peek(self) -> str:
        if self.pos >= len(self.text):
            raise _NeedMore
        return self.text[self.pos]

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def fail(self, char: str, context: str) -> RequestError:
        return RequestError(f"invalid character {_quote_char(char)} {context}")

    def top(self) -> int:
        self.skip_space()
        self.value()
        return self.pos

    def value(self) -> None:
        self.skip_space()
        char = self.peek()
        if char == "{":
            self.obj()
        elif char == "[":
            self.array()
        elif char == '"':
            self.string()
        elif char == "-" or char.isdigit() and char.isascii():
            self.number()
        elif char in _LITERALS:
            self.literal(_LITERALS[char])
        else:
            raise self.fail(char, "looking for beginning of value")

    def obj(self) -> None:
        self.pos += 1
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            self.skip_space()
            char = self.peek()
            if char != '"':
                raise self.fail(char, "looking for beginning of object key string")
            self.string()
            self.skip_space()
            char = self.peek()
            if char != ":":
                raise self.fail(char, "after object key")
            self.pos += 1
            self.value()
            self.skip_space()
            char = self.peek()
            self.pos += 1
            if char == "}":
                return
            if char != ",":
                raise self.fail(char, "after object key:value pair")

    def array(self) -> None:
        self.pos += 1
        self.skip_space()
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            self.value()
            self.skip_space()
            char = self.peek()
            self.pos += 1
            if char == "]":
                return
            if char != ",":
                raise self.fail(char, "after array element")

    def string(self) -> None:
        self.pos += 1
        while True:
            char = self.peek()
            self.pos += 1
            if char == '"':
                return
            if char == "\\":
                escape = self.peek()
                self.pos += 1
                if escape == "u":
                    for _ in range(4):
                        digit = self.peek()
                        if digit not in "0123456789abcdefABCDEF":
                            raise self.fail(digit, "in \\u hexadecimal character escape")
                        self.pos += 1
                elif escape not in '"\\/bfnrt':
                    raise self.fail(escape, "in string escape code")
            elif ord(char) < 0x20:
                raise self.fail(char, "in string literal")

    def number(self) -> None:
        if self.peek() == "-":
            self.pos += 1
            if not self._digit():
                raise self.fail(self.peek(), "in numeric literal")
        if self.peek_end() == "0":
            self.pos += 1
        else:
            self._digits()
        if self.peek_end() == ".":
            self.pos += 1
            if not self._digit():
                raise self.fail(self.peek(), "after decimal point in numeric literal")
            self._digits()
        if self.peek_end() in ("e", "E"):
            self.pos += 1
            if self.peek() in "+-":
                self.pos += 1
            if not self._digit():
                raise self.fail(self.peek(), "in exponent of numeric literal")
            self._digits()
        self.peek_end()

    def peek_end(self) -> str:
        """The next character, or "" at the end of an input that is complete (EOF); else wait for more."""
        if self.pos < len(self.text):
            return self.text[self.pos]
        if self.at_eof:
            return ""
        raise _NeedMore

    def _digit(self) -> bool:
        char = self.peek()
        return char.isascii() and char.isdigit()

    def _digits(self) -> None:
        while (char := self.peek_end()) and char.isascii() and char.isdigit():
            self.pos += 1

    def literal(self, word: str) -> None:
        self.pos += 1
        for expected in word[1:]:
            char = self.peek()
            if char != expected:
                raise self.fail(char, f"in literal {word} (expecting {_quote_char(expected)})")
            self.pos += 1
        self.peek_end()


def _quote_char(char: str) -> str:
    """Go's `quoteChar`: `'x'`, `'\\''`, `'"'`, `'\\n'`."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + _go_quote_inner(char) + "'"


def _go_quote_inner(char: str) -> str:
    from trakt_dagster.pit.gofmt import go_quote

    return go_quote(char)[1:-1]
