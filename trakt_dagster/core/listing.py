"""One listing of a folder, each name with its kind: what the module imports and the front ends look up.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "steps").mkdir(); _ = (folder / "clean.py").write_text("")
    >>> sorted(folder_entries(str(folder)).items())
    [('clean.py', 'file'), ('steps', 'folder')]
"""

from __future__ import annotations

import os

FILE, FOLDER = "file", "folder"


def folder_entries(folder: str) -> dict[str, str] | None:
    """The names in `folder`, each mapped to `FILE` (a regular file), `FOLDER` or "" (anything else), links
    followed; None when the folder cannot be listed.

    Example:
        >>> folder_entries("/nonexistent-folder") is None
        True
    """
    try:
        with os.scandir(folder) as scan:
            return {entry.name: entry_kind(entry) for entry in scan}
    except OSError:
        return None


def entry_kind(entry: os.DirEntry[str]) -> str:
    """`FILE`, `FOLDER` or "" for one entry of a folder listing (links followed), as `folder_entries` maps it."""
    try:
        return FILE if entry.is_file() else FOLDER if entry.is_dir() else ""
    except OSError:
        return ""


def subfolders(folder: str | os.PathLike[str]) -> list[os.DirEntry[str]] | None:
    """The entries of `folder` that are folders (links followed), sorted by name; None when it cannot be listed.

    Example:
        >>> subfolders("/nonexistent-folder") is None
        True
    """
    try:
        with os.scandir(folder) as scan:
            return sorted((entry for entry in scan if entry_kind(entry) == FOLDER), key=lambda entry: entry.name)
    except OSError:
        return None
