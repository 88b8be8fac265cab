"""Atomic writes: a file or a directory appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    The temporary file lives in the same folder so that ``os.replace`` is atomic.
    It keeps the target's suffix, because some writers (GDAL) choose the format by it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL refuse to overwrite an existing empty file
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it replaces ``target`` only on success.

    A run directory is therefore complete or absent: readers never see a half-written run.
    An existing ``target`` is swapped out and removed only after the new one is in place.
    Leftovers of runs that were killed (hidden ``.<name>.<pid>.*`` folders whose process is
    gone) are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tag = f".{target.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=tag, suffix=".partial", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run folder is as any other
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=tag, suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale(target: Path) -> list[Path]:
    """Remove hidden temporary siblings of ``target`` left by processes that no longer run.

    Also removes temporary files of :func:`atomic_path` (``.<stem>.*.tmp<suffix>``) whose
    writer is gone; those carry no pid, so only ones older than an hour are removed.
    """
    removed = []
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{prefix}*"):
        rest = path.name[len(prefix):]
        pid_text, _, _ = rest.partition(".")
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        if path.is_dir():
            old_run = path / target.name
            if path.name.endswith(".old") and old_run.is_dir() and not target.exists():
                os.replace(old_run, target)  # killed between the two renames: put it back
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def point_latest(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` (relative when beside it), replacing it atomically."""
    link = Path(link)
    target = Path(target)
    dest = target.name if target.parent.resolve() == link.parent.resolve() else str(target.resolve())
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(dest, tmp)
    os.replace(tmp, link)
