"""Checking the paths a user gives (photo, points, mask, checkpoint, output) before any work.

An operating-system error on a user's path (a name too long for the file system, a
folder where a file is expected, a file the user may not read, ...) is bad input, not a
crash: these helpers turn it into the caller's `DragPipelineError` subclass (exit 2) with
a message that names the argument, says what is wrong with it in words, and says what to
do. Every package may import this module (it needs only the standard library).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from common.errors import DragPipelineError

__all__ = ["os_error_reason", "show_path", "check_input_file", "check_output_location"]

_REASONS = {
    errno.ENOENT: "it does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "the name is too long for the file system",
    errno.ELOOP: "it is a loop of symbolic links",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space is left on the device",
    errno.EINVAL: "the name is not valid on this file system",
}

_SHOWN_CHARS = 80  # a path longer than this is shortened in messages (a 5000-character name helps no one)


def os_error_reason(exc: OSError) -> str:
    """What an OSError means for the user, in words ("permission denied", "the name is too long ...")."""
    return _REASONS.get(exc.errno, " ".join((exc.strerror or str(exc) or type(exc).__name__).split()).lower())


def show_path(path: str | os.PathLike) -> str:
    """The path for a message: quoted with repr, the middle of a very long path elided."""
    text = os.fspath(path)
    if len(text) > _SHOWN_CHARS:
        text = f"{text[: _SHOWN_CHARS // 2]}...{text[-_SHOWN_CHARS // 2 :]} ({len(text)} characters)"
    return repr(text)


def check_input_file(
    path: str | os.PathLike, what: str, error: type[DragPipelineError] = DragPipelineError, fix: str = "check the path"
) -> Path:
    """Check that a file the user named exists, is a regular file and can be read.

    Args:
        path: the path as given (``~`` is expanded).
        what: the argument, for the message (e.g. '--image', 'the mask named in the points file').
        error: the exception class to raise (its `exit_code` decides the exit status).
        fix: the end of the message, saying what to do.

    Returns:
        The expanded Path.

    Raises:
        error: the path is empty, missing, a folder, unreadable, or the OS refuses it.
    """
    if not os.fspath(path):
        raise error(f"{what} is empty; {fix}")
    p = Path(path).expanduser()
    try:
        mode = os.stat(p).st_mode
        if stat.S_ISDIR(mode):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(mode):  # a pipe or device would block or never end
            raise error(f"{what} {show_path(path)}: not a regular file (a pipe or device); {fix}")
        with open(p, "rb"):  # the one test of readability that covers permissions, ACLs and odd file systems
            pass
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise error(f"{what} not found: {show_path(path)}; {fix}") from None
        raise error(f"{what} {show_path(path)}: {os_error_reason(exc)}; {fix}") from None
    except ValueError as exc:  # e.g. an embedded NUL character
        raise error(f"{what} {show_path(path)}: not a valid path ({exc}); {fix}") from None
    return p


def check_output_location(
    path: str | os.PathLike,
    what: str,
    error: type[DragPipelineError] = DragPipelineError,
    fix: str = "choose another location",
) -> Path:
    """Check, before any work, that an output (file or folder) can be created at `path`.

    The nearest existing ancestor must be a writable folder: a probe file is created in it
    and removed again (the only test that also catches read-only mounts and ACLs). Nothing
    is left behind, and missing folders are not created here.

    Args:
        path: the output path as given (``~`` is expanded).
        what: the argument, for the message (e.g. '--out').
        error: the exception class to raise.
        fix: the end of the message, saying what to do.

    Returns:
        The expanded absolute Path.

    Raises:
        error: the name is invalid or too long, an ancestor is a file, or the location is not writable.
    """
    if not os.fspath(path):
        raise error(f"{what} is empty; {fix}")
    p = Path(path).expanduser().absolute()
    try:
        for part in p.parts:  # a component longer than the file system allows
            if len(os.fsencode(part)) > 255:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        parent = p.parent
        while not parent.exists():  # exists() raises OSError for ENAMETOOLONG / EACCES on Python < 3.14
            parent = parent.parent
        if not parent.is_dir():
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise error(f"{what} {show_path(path)}: cannot write there, {os_error_reason(exc)}; {fix}") from None
    except ValueError as exc:
        raise error(f"{what} {show_path(path)}: not a valid path ({exc}); {fix}") from None
    return p


def shared_data(relative: str) -> Path:
    """A path inside the shared data folder beside the checkout (`../shared`; env DRAGGAN_SHARED overrides it).

    For the measuring tools and benchmarks of a source checkout; the path may not exist.
    """
    shared = os.environ.get("DRAGGAN_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared"
    return root / relative
