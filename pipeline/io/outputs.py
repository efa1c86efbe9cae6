"""Output folders: validated before any work, filled in a staging folder, swapped into place atomically.

Everything is written into a staging folder beside the output folder and moved into place
only when complete (`staged_output_dir`), so a failure or Ctrl-C leaves nothing behind; a
later run clears what a killed run left (`remove_stale_staging`). What goes into the folder
is `pipeline.io.report.write_results`; the drawings are `pipeline.io.drawing`, the video
`pipeline.io.video`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from common.paths import check_output_location, os_error_reason, show_path
from pipeline.errors import OutputError

__all__ = [
    "check_output_dir",
    "check_replaceable",
    "staged_output_dir",
    "remove_stale_staging",
    "remove_stale_staging_in",
    "write_png",
]

# `staged_output_dir`'s folders: .<name>.<pid>.<random>.partial / .old (the random part has no '.').
_STAGING_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.(partial|old)$")


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_output_dir(
    out_dir: str | os.PathLike, overwrite: bool = False, protected: tuple[str | os.PathLike, ...] = ()
) -> Path:
    """Validate an output folder before any work is done, and clear what killed runs left there.

    The folder must be creatable: a probe file is created and removed in its nearest
    existing ancestor (`common.paths.check_output_location`), so an unwritable location
    fails now, not after an hour of computing; an existing folder must be replaceable
    (`check_replaceable`). Staging folders that a killed run left beside it are removed
    (`remove_stale_staging`).

    Args:
        out_dir: the folder the results go to.
        overwrite: allow replacing an existing non-empty folder.
        protected: input files (photo, points, mask) that must never be overwritten or deleted.

    Returns:
        `out_dir` as an absolute Path.

    Raises:
        OutputError: `out_dir` cannot be written (permissions, name too long, a file in the
            way) or replaced, is a file, is non-empty without `overwrite`, or holds an input.
    """
    out = check_output_location(out_dir, "--out", OutputError, fix="choose another --out folder")
    for p in protected:
        if p is not None and _is_within(Path(p), out):
            raise OutputError(f"output folder {out} contains the input {p}; choose another --out folder")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; choose a folder path")
    if out.is_dir():
        try:
            not_empty = any(out.iterdir())
        except OSError as exc:
            raise OutputError(
                f"--out {show_path(out)}: cannot list the folder, {os_error_reason(exc)}; choose another --out folder"
            ) from None
        if not_empty and not overwrite:
            raise OutputError(
                f"output folder {out} already exists and is not empty; pass --overwrite or choose another --out"
            )
    remove_stale_staging(out)
    check_replaceable(out)
    return out


def check_replaceable(
    out_dir: str | os.PathLike, what: str = "--out", fix: str = "choose another --out folder"
) -> None:
    """Check, before any work, that an existing output folder can be replaced as `staged_output_dir` will.

    The final swap moves the folder into a hidden folder beside it and renames the staging
    folder into its place. A folder the user may not write into (moving a folder to another
    parent rewrites its '..' entry), or whose parent forbids the move (a sticky bit, a
    read-only mount, an immutable flag), would fail only then, after all the computing. So the
    same move is made now and undone at once: a hidden `.old` folder is created beside
    `out_dir`, `out_dir` moved into it and back, and the hidden folder removed. Permission
    bits alone would not tell (root ignores them, ACLs and mounts add to them). A run killed
    between the two moves is repaired by the next run (`remove_stale_staging`). A folder that
    does not exist yet needs no check here (its parent was probed by `check_output_dir`).

    Args:
        out_dir: the output folder (need not exist).
        what: the argument or folder, for the message (e.g. '--out', 'job folder').
        fix: the end of the message, saying what to do.

    Raises:
        OutputError: the folder cannot be moved aside (the reason in words), with nothing left behind.
    """
    out = Path(out_dir).expanduser().absolute()
    if not out.is_dir():
        return
    trash = None
    try:
        trash = Path(tempfile.mkdtemp(prefix=_staging_prefix(out), suffix=".old", dir=out.parent))
        os.replace(out, trash / "old")
    except OSError as exc:
        if trash is not None:
            with contextlib.suppress(OSError):
                trash.rmdir()
        raise OutputError(
            f"{what} {show_path(out)}: the existing folder cannot be replaced with the results, "
            f"{os_error_reason(exc)}; make it and its parent folder writable, or {fix}"
        ) from None
    try:
        os.replace(trash / "old", out)
    except OSError as exc:  # the move aside worked, so this should not happen
        raise OutputError(
            f"{what} {show_path(out)} was moved to {show_path(trash / 'old')} while checking it and cannot be "
            f"moved back, {os_error_reason(exc)}; move it back by hand"
        ) from None
    with contextlib.suppress(OSError):
        trash.rmdir()


def _staging_prefix(out: Path) -> str:
    # The owner's process id is part of the name, so a later run can tell a folder left by a
    # killed run from one a concurrent run is still writing.
    return f".{out.name}.{os.getpid()}."


def _owner_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: leave it alone
    return True


def remove_stale_staging(out_dir: str | os.PathLike) -> list[Path]:
    """Remove the hidden staging folders of `out_dir` whose run no longer exists (it was killed).

    A staging folder `.<name>.<pid>.<random>.partial` is removed when process <pid> is gone. A
    `.old` folder (the previous results, moved aside during the final swap) is put back as
    `out_dir` if the run was killed between the two renames and `out_dir` is missing, else removed.

    Args:
        out_dir: the output folder (need not exist).

    Returns:
        The folders removed or restored.
    """
    out = Path(out_dir).expanduser().absolute()
    head = f".{out.name}."
    try:
        candidates = [
            p for p in out.parent.iterdir() if p.name.startswith(head) and p.name.endswith((".partial", ".old"))
        ]
    except OSError:
        return []
    cleaned = []
    for folder in candidates:
        pid_text = folder.name[len(head) :].split(".", 1)[0]
        if not pid_text.isdigit() or _owner_alive(int(pid_text)):
            continue
        if folder.name.endswith(".old") and (folder / "old").is_dir() and not out.exists():
            os.replace(folder / "old", out)  # the killed run had moved the previous results aside
        shutil.rmtree(folder, ignore_errors=True)
        cleaned.append(folder)
    return cleaned


def remove_stale_staging_in(folder: str | os.PathLike) -> list[Path]:
    """`remove_stale_staging` for every output folder inside `folder` (a batch's job folders).

    Args:
        folder: the folder holding the output folders (need not exist).

    Returns:
        The staging folders removed or restored.
    """
    folder = Path(folder).expanduser().absolute()
    try:
        names = {m["name"] for p in folder.iterdir() if (m := _STAGING_NAME.match(p.name))}
    except OSError:
        return []
    return [cleaned for name in sorted(names) for cleaned in remove_stale_staging(folder / name)]


def _missing_ancestors(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def _rename_into_place(staging: Path, out: Path) -> None:
    try:
        os.replace(staging, out)
    except OSError as exc:
        raise OutputError(
            f"could not move the results into {show_path(out)}, {os_error_reason(exc)}; nothing was written there: "
            "make the folder and its parent writable, or choose another --out folder, and run again"
        ) from None


def _swap_in(staging: Path, out: Path) -> None:
    """Replace the existing folder `out` by `staging`: `out` is moved aside, then back if anything fails."""
    trash = Path(tempfile.mkdtemp(prefix=_staging_prefix(out), suffix=".old", dir=out.parent))
    try:
        try:
            os.replace(out, trash / "old")
        except OSError as exc:
            raise OutputError(
                f"could not replace the folder {show_path(out)}, {os_error_reason(exc)}; nothing was changed: "
                "make it and its parent writable, or choose another --out folder, and run again"
            ) from None
        try:
            _rename_into_place(staging, out)
        except BaseException:
            os.replace(trash / "old", out)  # put the previous results back
            raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def staged_output_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `out_dir`, on any error it is removed.

    The staging folder is created in `out_dir`'s parent (same file system, so the final
    step is a rename). An existing `out_dir` is only touched after everything was
    written, and only with `overwrite`. On failure nothing is left: not the staging folder,
    nor the parent folders this call created.
    """
    out = Path(out_dir).expanduser().absolute()
    created = _missing_ancestors(out.parent)
    ok = False
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(out), suffix=".partial", dir=out.parent))
    try:
        yield staging
        if out.exists():
            if any(out.iterdir()) and not overwrite:
                raise OutputError(
                    f"output folder {out} appeared while running and is not empty; "
                    "pass --overwrite or choose another --out"
                )
            _swap_in(staging, out)
        else:
            _rename_into_place(staging, out)
        ok = True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if not ok:
            for folder in created:  # deepest first; only if still empty
                with contextlib.suppress(OSError):
                    folder.rmdir()


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, 3) RGB (or (H, W) grey) image as PNG (lossless)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise OutputError(f"write_png expects a uint8 (H, W[, 3]) image, got {arr.dtype} {arr.shape}")
    Image.fromarray(np.ascontiguousarray(arr)).save(path, format="PNG")
    return Path(path)
