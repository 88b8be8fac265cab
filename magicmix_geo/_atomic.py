"""Atomic writes: a file or a directory appears complete or not at all."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from magicmix_geo._errors import OutputError

# what a run folder of ours holds (relative paths); anything else in an existing --out folder
# belongs to someone else, and the folder is then never replaced
RUN_MANIFEST = "manifest.json"
RUN_SOFTWARE = "magicmix-geo"
RUN_FILE = re.compile(
    r"(manifest\.json|national_ranking\.(gpkg|csv|xlsx)|national_summary\.csv"
    r"|index\.html|overview\.(png|html)|national_report\.pdf|magicmix\.qgz"
    r"|GM\d{4}_[A-Za-z0-9_-]+\.gpkg|maps/GM\d{4}\.(png|html)|reports/GM\d{4}\.(html|pdf)"
    r"|rasters/GM\d{4}_[A-Za-z0-9_]+\.tif(\.aux\.xml)?)"
)
RUN_FOLDERS = frozenset({"maps", "reports", "rasters"})


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
    An existing ``target`` is swapped out and removed only after the new one is in place, and
    only when it is an empty folder or one of our runs (see :func:`check_output_dir`).
    Leftovers of runs that were killed (hidden ``.<name>.<pid>.*`` folders whose process is
    gone) are removed first.
    """
    target = Path(os.path.abspath(target))  # "." and "x/.." have no usable name
    check_output_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tag = f".{target.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=tag, suffix=".partial", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run folder is as any other
    try:
        try:
            yield tmp
        except OutputError as exc:  # name the file the user asked for, not the hidden one
            raise OutputError(str(exc).replace(str(tmp), str(target))) from exc
        except OSError as exc:
            if exc.filename and str(exc.filename).startswith(str(tmp)):
                exc.filename = str(exc.filename).replace(str(tmp), str(target), 1)
            raise
        check_output_dir(target)  # nobody put a file of theirs in it meanwhile
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


def check_output_dir(out_dir: Path) -> Path:
    """Refuse an output folder that cannot be used or must not be replaced; return it.

    An output path may be absent, an empty folder, or a run folder of ours: one whose
    ``manifest.json`` names magicmix-geo and that holds nothing but the files a run writes.
    A user's folder (notes, the run's own input files, the current folder) is refused before
    any work is done, so nothing in it is ever deleted. The parent must be writable.

    Raises
    ------
    OutputError
        One line naming the path and the problem (exit 2).
    """
    out_dir = Path(out_dir)
    where = Path(os.path.abspath(out_dir))
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a directory")
    if out_dir.is_dir():
        _refuse_foreign(out_dir, where)
    probe = where.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{out_dir}: {probe} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".magicmix-probe."):
            pass
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write in {probe} ({exc.strerror})") from exc
    return out_dir


def _refuse_foreign(out_dir: Path, where: Path) -> None:
    cwd = Path.cwd().resolve()
    if where.resolve() == cwd or where.resolve() in cwd.parents:
        raise OutputError(
            f"{out_dir}: is the current folder (or holds it); choose a new folder for the outputs"
        )
    if not is_run_folder(out_dir):
        # look at a few names only: --out may be a home folder with a million files
        names = sorted(p.name for p in itertools.islice(out_dir.iterdir(), 4))
        if not names:
            return  # an empty folder: nothing to lose
        what = f"it holds {_listing(names)} and no magicmix-geo {RUN_MANIFEST}"
    else:
        foreign = list(itertools.islice(_foreign_entries(out_dir), 4))
        if not foreign:
            return
        what = f"it holds files no run writes: {_listing(foreign)}"
    raise OutputError(
        f"{out_dir}: output folder exists and is not a magicmix-geo run folder ({what}); "
        "refusing to replace it: choose a new or empty folder"
    )


def _foreign_entries(folder: Path) -> Iterator[str]:
    """Relative paths in a run folder that no run writes."""
    for entry in folder.iterdir():
        if entry.name in RUN_FOLDERS and entry.is_dir() and not entry.is_symlink():
            for inner in entry.iterdir():
                name = f"{entry.name}/{inner.name}"
                if not (RUN_FILE.fullmatch(name) and inner.is_file()):
                    yield name
        elif not (RUN_FILE.fullmatch(entry.name) and entry.is_file()):
            yield entry.name


def _listing(names: list[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown + (", ..." if len(names) > most else "")


def is_run_folder(folder: Path) -> bool:
    """True when ``folder`` holds a ``manifest.json`` written by magicmix-geo."""
    try:
        manifest = json.loads((Path(folder) / RUN_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    software = manifest.get("software") if isinstance(manifest, dict) else None
    return isinstance(software, dict) and software.get("name") == RUN_SOFTWARE


def remove_stale(target: Path) -> list[Path]:
    """Remove hidden temporary siblings of ``target`` left by processes that no longer run.

    Also removes temporary files of :func:`atomic_path` (``.<stem>.*.tmp<suffix>``) whose
    writer is gone; those carry no pid, so only ones older than an hour are removed.
    """
    removed = []
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{prefix}*"):
        rest = path.name[len(prefix) :]
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
    beside = target.parent.resolve() == link.parent.resolve()
    dest = target.name if beside else str(target.resolve())
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(dest, tmp)
    os.replace(tmp, link)


def interrupt_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a scheduler stopping a job) act like Ctrl-C: the run stops
    with KeyboardInterrupt, so every ``finally`` runs and the hidden ``.partial`` folder of
    :func:`atomic_directory` is removed at once, not only at the next run. Main thread only.
    """

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
