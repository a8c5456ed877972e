"""How Go prints values, for the texts pit writes: `%q` strings, `time.Duration`, `%v` of a string slice.

pit's messages, summaries and tables are built with Go's `fmt`; these helpers give the same characters so that
what trakt-dagster prints reads exactly like pit's output.
"""

from __future__ import annotations

import signal

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_SIGNALS = {
    signal.SIGHUP: "hangup",
    signal.SIGINT: "interrupt",
    signal.SIGQUIT: "quit",
    signal.SIGILL: "illegal instruction",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGKILL: "killed",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGUSR2: "user defined signal 2",
    signal.SIGPIPE: "broken pipe",
    signal.SIGALRM: "alarm clock",
    signal.SIGTERM: "terminated",
}
"""The names Go's `syscall.Signal.String()` gives the signals a task process is usually stopped by."""


def go_quote(text: str) -> str:
    """`%q` of a Go string: double quotes, backslash escapes for quotes, controls and unprintable characters.

    Example:
        >>> go_quote('say "hi"\\n'), go_quote("café")
        ('"say \\\\"hi\\\\"\\\\n"', '"café"')
    """
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == " " or char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def go_list(items: list[str] | tuple[str, ...]) -> str:
    """`%v` of a Go string slice.

    Example:
        >>> go_list(["extract", "clean"])
        '[extract clean]'
    """
    return "[" + " ".join(items) + "]"


def round_duration(seconds: float, unit: float) -> int:
    """Nanoseconds of `seconds` rounded to a multiple of `unit` seconds, halves away from zero (Go's `Round`).

    Example:
        >>> round_duration(1.2345, 0.001)
        1235000000
    """
    ns = round(seconds * 1e9)
    step = round(unit * 1e9)
    if step <= 0:
        return ns
    sign = -1 if ns < 0 else 1
    quotient, remainder = divmod(abs(ns), step)
    if remainder * 2 >= step:
        quotient += 1
    return sign * quotient * step


def go_duration(ns: int) -> str:
    """`time.Duration(ns).String()`: `1h2m3.5s`, `250ms`, `1.5µs`, `0s`.

    Example:
        >>> go_duration(1_234_000_000), go_duration(61_500_000_000), go_duration(5_000_000), go_duration(0)
        ('1.234s', '1m1.5s', '5ms', '0s')
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    value = abs(ns)
    if value < 1_000:
        return f"{sign}{value}ns"
    if value < 1_000_000:
        return sign + _fraction(value, 1_000) + "µs"
    if value < 1_000_000_000:
        return sign + _fraction(value, 1_000_000) + "ms"
    hours, rest = divmod(value, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    whole, part = divmod(value, unit)
    if not part:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")


def exit_status(returncode: int) -> str:
    """How Go's `exec` reports a process that did not succeed: `exit status 2`, `signal: killed`.

    Example:
        >>> exit_status(3), exit_status(-9)
        ('exit status 3', 'signal: killed')
    """
    if returncode >= 0:
        return f"exit status {returncode}"
    number = -returncode
    try:
        name = _SIGNALS.get(signal.Signals(number), f"signal {number}")
    except ValueError:
        name = f"signal {number}"
    return f"signal: {name}"


GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
"""What Go's `unicode.IsSpace` calls white space (`strings.TrimSpace` trims it)."""


def go_trim_space(text: str) -> str:
    """`strings.TrimSpace`: Python's `str.strip()` also strips the ASCII separators U+001C..U+001F; Go does not.

    Example:
        >>> go_trim_space("\\x1c select 1 \\n")
        '\\x1c select 1'
    """
    return text.strip(GO_SPACE)
