"""Go `path.Match` semantics for pit's FTP patterns (§6 row 18 and the rules around it)."""

from __future__ import annotations

import pytest

from trakt_dagster.pit.gomatch import go_path_match, is_valid_go_pattern

MATCHES = [
    # §6 row 18
    ("sales_*.csv", "sales_1.csv", True),
    ("sales_*.csv", "SALES_1.csv", False),
    ("[", "[", False),
    ("[", "", False),
    ("[!a]*.csv", "a.csv", True),
    ("[!a]*.csv", "!x.csv", True),
    ("[!a]*.csv", "b.csv", False),
    # literals and case
    ("report.csv", "report.csv", True),
    ("report.csv", "Report.csv", False),
    ("", "", True),
    ("", "x", False),
    # star: any run of non-separator characters, including none
    ("*", "", True),
    ("*", "anything.txt", True),
    ("*", "dir/file", False),
    ("*.csv", ".csv", True),
    ("*.csv", "a.csv.bak", False),
    ("a*b*c", "a--b--c", True),
    ("a*b*c", "a--b--", False),
    ("*x", "xxx", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b", "a/b", False),
    ("in/*", "in/a.csv", True),
    ("in/*", "in/sub/a.csv", False),
    # question mark: exactly one non-separator character
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("a?c", "a/c", False),
    ("??.txt", "ab.txt", True),
    ("?", "é", True),
    # classes: ranges, several ranges, ^ negation only
    ("[a-c]x", "bx", True),
    ("[a-c]x", "dx", False),
    ("[a-cx-z]", "y", True),
    ("[^a-c]", "d", True),
    ("[^a-c]", "b", False),
    ("[!]", "!", True),
    ("[!]", "x", False),
    ("file[0-9].csv", "file7.csv", True),
    ("file[0-9].csv", "fileA.csv", False),
    # escapes
    ("\\*", "*", True),
    ("\\*", "x", False),
    ("\\[a]", "[a]", True),
    ("[\\]]", "]", True),
    ("[\\-]", "-", True),
    # malformed patterns match nothing, even names they would otherwise match
    ("[]", "]", False),
    ("[a-]", "a", False),
    ("[-a]", "a", False),
    ("[z", "z", False),
    ("a\\", "a", False),
    ("a\\", "a\\", False),
    ("*[", "x[", False),
    ("ok*[", "ok", False),
    ("[^]", "x", False),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), MATCHES)
def test_go_path_match(pattern: str, name: str, expected: bool) -> None:
    assert go_path_match(pattern, name) is expected


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [("*.csv", True), ("[a-z]?", True), ("\\*", True), ("[", False), ("[]", False), ("x\\", False), ("[a-", False)],
)
def test_pattern_validity(pattern: str, valid: bool) -> None:
    assert is_valid_go_pattern(pattern) is valid


def test_bang_is_not_negation_unlike_fnmatch() -> None:
    import fnmatch

    # fnmatch treats [!a] as negation; Go (and pit) treat '!' as a member of the class
    assert fnmatch.fnmatchcase("a.csv", "[!a]*.csv") is False
    assert go_path_match("[!a]*.csv", "a.csv") is True
