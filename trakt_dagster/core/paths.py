"""Names that become parts of file paths: checked when pipelines load, so no path built from them leaves its root.

A pipeline's name becomes a folder (trakt's `trakt_paths` roots, pit's repo cache); a dataset name a file
under the output folder. Front ends report `folder_name_problem` / `escapes_folder` as load errors, and
`path_inside` guards the places that build such paths at run time.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def folder_name_problem(name: str) -> str | None:
    """Why `name` cannot be used as one folder name inside another folder, or None when it can.

    Example:
        >>> folder_name_problem("daily_sales"), folder_name_problem("..")
        (None, "'..' names the parent folder")
        >>> folder_name_problem("a/b")
        "it contains a path separator ('/' or '\\\\')"
    """
    if not name.strip():
        return "it is empty"
    if name == "..":
        return "'..' names the parent folder"
    if name == ".":
        return "'.' names the folder itself"
    if "/" in name or "\\" in name:
        return "it contains a path separator ('/' or '\\')"
    if "\x00" in name:
        return "it contains a NUL character"
    return None


def escapes_folder(relative: str) -> bool:
    """Whether a relative path leaves the folder it is joined to (absolute, or `..` past the top).

    Example:
        >>> escapes_folder("../x.parquet"), escapes_folder("sub/../x.parquet"), escapes_folder("/etc/x")
        (True, False, True)
    """
    path = PurePosixPath(relative.replace("\\", "/"))
    if path.is_absolute() or (len(relative) > 1 and relative[1] == ":"):
        return True
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def path_inside(root: Path, *names: str) -> Path:
    """`root / names...` where each name must be one folder or file name (see `folder_name_problem`);
    raises ValueError otherwise, so the result never leaves `root` nor is `root` itself.

    Example:
        >>> path_inside(Path("/cache"), "sales").as_posix()
        '/cache/sales'
    """
    for name in names:
        problem = folder_name_problem(name)
        if problem:
            raise ValueError(f"{name!r} cannot be a folder name under {root} ({problem}): it would leave {root}")
    return Path(root).joinpath(*names)
