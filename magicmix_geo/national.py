"""Many municipalities in one run: parallel on Dask, cached, failure-isolated, one national list.

The unit of work is one municipality (:class:`~magicmix_geo.pipeline.RankInputs`). Each runs
through :func:`magicmix_geo.cache.rank_cached`, on a Dask cluster when there is one (a
``LocalCluster`` of ``workers`` processes, or an existing scheduler at ``dask_address``), else
in this process. A municipality that fails is recorded with its error and the others carry on;
the outputs of the others are still published and the run's exit status is 1.

Workers read the input files and the result cache by path, so on a remote cluster both must
live on a file system every worker sees (the same paths on every machine).

Without the acquisition cache, the municipalities come from an areas file (TOML) listing per
municipality the same fields as ``data/sample/sample.toml``::

    # paths are relative to this file
    [defaults]                      # optional, shared by every municipality
    osm = "nl.osm.pbf"
    cbs = ["cbs_gemeenten.gpkg", "cbs_buurten.gpkg"]

    [[municipality]]
    gm_code = "GM0503"
    boundary = "GM0503.gpkg"
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import tomllib
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicmix_geo import __version__
from magicmix_geo._errors import InputError
from magicmix_geo.cache import (
    ResultCache,
    check_inputs,
    code_fingerprint,
    rank_cached,
    result_key,
)
from magicmix_geo.pipeline import (
    GM_CODE,
    MunicipalityResult,
    RankInputs,
    check_output_dir,
    CapacityRun,
    municipality_files,
    publish_run,
)
from magicmix_geo.progress import progress_bar, spinner, stderr_console, summary_table

if TYPE_CHECKING:
    from distributed import Client
    from rich.console import Console

    from magicmix_geo.config import Settings

AREA_KEYS = {"gm_code", "osm", "boundary", "cbs", "bag", "grid", "candidates", "profile"}
PATH_KEYS = ("osm", "boundary", "bag", "grid", "candidates")
DEFAULT_OUT = Path("outputs") / "national"


# -- the list of municipalities ---------------------------------------------------------------

def read_areas_file(path: Path) -> list[RankInputs]:
    """The municipalities of an areas file (TOML), paths resolved against the file's folder."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            spec = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: areas file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    unknown = set(spec) - {"defaults", "municipality"}
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    defaults = spec.get("defaults", {})
    entries = spec.get("municipality", [])
    if not isinstance(defaults, dict) or not isinstance(entries, list):
        raise InputError(f"{path}: expected a [defaults] table and [[municipality]] tables")
    if not entries:
        raise InputError(f"{path}: no [[municipality]] listed")
    base = path.resolve().parent
    areas: list[RankInputs] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: municipality[{i}]"
        merged = {**defaults, **entry}
        unknown = set(merged) - AREA_KEYS
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        for required in ("gm_code", "osm"):
            if required not in merged:
                raise InputError(f"{where}: {required!r} is required")
        code = str(merged["gm_code"])
        if not GM_CODE.match(code):
            raise InputError(f"{where}: gm_code {code!r} is not a code like GM0503")
        if code in seen:
            raise InputError(f"{where}: gm_code {code} is listed twice")
        seen.add(code)
        cbs = merged.get("cbs", [])
        if isinstance(cbs, str):
            cbs = [cbs]

        def resolve(value: str) -> Path:
            return base / Path(value).expanduser()

        areas.append(
            RankInputs(
                gm_code=code,
                cbs=tuple(resolve(p) for p in cbs),
                profile=str(merged.get("profile", "singles")),
                **{k: resolve(merged[k]) for k in PATH_KEYS if k in merged},  # type: ignore[arg-type]
            )
        )
    return areas


@dataclass(frozen=True)
class CachedArea:
    """A municipality whose inputs come from the acquisition data cache (``magicmix-geo
    acquire``); they are looked up, and an OSM extract cut if needed, on the worker."""

    gm_code: str
    data_dir: Path | None = None
    profile: str = "singles"


Area = RankInputs | CachedArea


def cached_areas(
    codes: Sequence[str] | None, data_dir: Path | None, profile: str = "singles"
) -> list[CachedArea]:
    """``codes`` (or, when None, every municipality of the cached CBS map) as cache areas."""
    if codes is None:
        from magicmix_geo.sources.cache import DataCache
        from magicmix_geo.sources.cbs import all_municipalities

        codes = all_municipalities(DataCache.at(data_dir))
    return [CachedArea(code, data_dir, profile) for code in codes]


def resolve_area(area: Area, settings: Settings) -> tuple[RankInputs, dict[str, Any] | None]:
    """The local files of ``area``; for a cache area also what the cache supplied."""
    if isinstance(area, RankInputs):
        return area, None
    from magicmix_geo.sources.acquire import cached_rank_inputs

    return cached_rank_inputs(
        settings, area.gm_code, data_dir=area.data_dir, profile=area.profile
    )


def select_areas(areas: Sequence[RankInputs], codes: Sequence[str] | None) -> list[RankInputs]:
    """The areas with the given codes (all when ``codes`` is None), in the order given."""
    if codes is None:
        return list(areas)
    by_code = {a.gm_code: a for a in areas}
    missing = [c for c in codes if c not in by_code]
    if missing:
        raise InputError(f"--areas: {', '.join(missing)} not in the list of municipalities")
    return [by_code[c] for c in dict.fromkeys(codes)]


def parse_codes(text: str) -> list[str]:
    """``"GM0503, GM0363"`` -> ``["GM0503", "GM0363"]``; each must look like GMxxxx."""
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    if not codes:
        raise InputError("--areas: no municipality code given")
    bad = [c for c in codes if not GM_CODE.match(c)]
    if bad:
        raise InputError(f"--areas: {', '.join(bad)} is not a code like GM0503")
    return codes


# -- one municipality -------------------------------------------------------------------------

@dataclass(frozen=True)
class AreaOutcome:
    """What happened to one municipality. ``status`` is ``done``, ``cached`` or ``failed``."""

    gm_code: str
    status: str
    seconds: float
    key: str | None = None
    path: str | None = None
    sites: int | None = None
    ranked: int | None = None
    error: str | None = None
    where: str | None = None
    provenance: dict[str, Any] | None = field(default=None, repr=False)
    detail: str | None = field(default=None, repr=False)
    result: MunicipalityResult | None = field(default=None, repr=False, compare=False)

    def row(self) -> dict[str, Any]:
        """The manifest / summary row (no result, no traceback)."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        for private in ("result", "detail", "path"):
            del row[private]
        row["seconds"] = round(self.seconds, 3)
        if row["provenance"] is None:
            del row["provenance"]
        return row


def compute_area(
    area: Area, settings: Settings, cache_root: str | None, *, keep_result: bool = False
) -> AreaOutcome:
    """Rank one municipality through the cache; raises on failure (for Prefect to see).

    With a cache the result stays on disk and the outcome carries its path only (what crosses
    the network is small); without one, or with ``keep_result``, the result rides along.
    """
    clock = time.perf_counter()
    inputs, provenance = resolve_area(area, settings)
    cache = ResultCache(Path(cache_root)) if cache_root else None
    ranked = rank_cached(inputs, settings, cache)
    sites = ranked.result.sites
    return AreaOutcome(
        gm_code=inputs.gm_code,
        status="cached" if ranked.hit else "done",
        seconds=time.perf_counter() - clock,
        key=ranked.key,
        path=str(ranked.path) if ranked.path else None,
        sites=len(sites),
        ranked=int((~sites["excluded"].astype(bool)).sum()),
        provenance=provenance,
        where=f"{socket.gethostname()}:{os.getpid()}",
        # the result rides along when it is not in the cache (no cache, or it could not store)
        result=ranked.result if (ranked.path is None or keep_result) else None,
    )


def rank_area(area: Area, settings: Settings, cache_root: str | None) -> AreaOutcome:
    """:func:`compute_area` that never raises: a failure becomes a ``failed`` outcome."""
    clock = time.perf_counter()
    try:
        return compute_area(area, settings, cache_root)
    except Exception as exc:
        return failed_outcome(area.gm_code, exc, time.perf_counter() - clock)


def failed_outcome(gm_code: str, exc: BaseException, seconds: float = 0.0) -> AreaOutcome:
    message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return AreaOutcome(gm_code, "failed", seconds, error=message, detail=detail)


# -- Dask -------------------------------------------------------------------------------------

_CLIENTS: dict[str, Client] = {}
_CLIENTS_LOCK = threading.Lock()


@contextlib.contextmanager
def dask_client(workers: int | None, address: str | None) -> Iterator[Client | None]:
    """A Dask client on an existing scheduler (``address``), a ``LocalCluster`` of ``workers``
    single-threaded worker processes, or None (work in this process) when ``workers`` is 0/None.

    The client is also registered under its scheduler address for :func:`client_for`.
    """
    if not address and not workers:
        yield None
        return
    from magicmix_geo.measure.parallel import dask_client as open_client

    with open_client(workers, address) as client:
        key = str(client.scheduler.address)
        with _CLIENTS_LOCK:
            _CLIENTS[key] = client
        try:
            yield client
        finally:
            with _CLIENTS_LOCK:
                _CLIENTS.pop(key, None)


def client_for(address: str) -> Client:
    """The client this process already holds for ``address`` (see :func:`dask_client`), or a
    new one kept for later calls."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(address)
        if client is None:
            from distributed import Client

            client = _CLIENTS[address] = Client(address, timeout="20s", set_as_default=False)
        return client


def describe_executor(client: Client | None, address: str | None) -> str:
    if client is None:
        return "in-process"
    n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
    where = f"dask scheduler {address}" if address else "dask LocalCluster"
    return f"{where} ({n} worker{'s' if n != 1 else ''})"


def default_workers(n_areas: int) -> int:
    """One worker process per CPU, at most one per municipality; 0 (in-process) for one."""
    n = min(os.cpu_count() or 1, n_areas)
    return 0 if n <= 1 else n


# -- the run ----------------------------------------------------------------------------------

@dataclass
class NationalRun:
    """The summary of a national run: outcomes, whether outputs were (re)written, times."""

    outcomes: list[AreaOutcome]
    out_dir: Path
    published: bool
    up_to_date: bool
    executor: str
    rank_seconds: float
    publish_seconds: float = 0.0
    manifest: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = {"done": 0, "cached": 0, "failed": 0}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts

    @property
    def failed(self) -> list[AreaOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every municipality ranked, 1 when any failed (the others are still written)."""
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "executor": self.executor,
            "rank_seconds": round(self.rank_seconds, 3),
            "publish_seconds": round(self.publish_seconds, 3),
            "published": self.published,
            "up_to_date": self.up_to_date,
            "out_dir": str(self.out_dir),
            "municipalities": [o.row() for o in self.outcomes],
        }


def run_summary(
    outcomes: Sequence[AreaOutcome],
    settings: Settings,
    executor: str,
    rank_seconds: float,
    capacity: CapacityRun | None = None,
) -> dict[str, Any]:
    """The ``run_summary`` block of the manifest. ``result_keys`` tells a later run whether
    the published outputs are still current."""
    counts = {"done": 0, "cached": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return {
        "counts": counts,
        "executor": executor,
        "rank_seconds": round(rank_seconds, 3),
        "municipalities": [o.row() for o in outcomes],
        "result_keys": {o.gm_code: o.key for o in outcomes if o.status != "failed"},
        "failed": sorted(o.gm_code for o in outcomes if o.status == "failed"),
        "code": code_fingerprint(),
        "config_hash": settings.hash,
        "capacity": capacity.fingerprint() if capacity else None,
    }


def outputs_up_to_date(out_dir: Path, summary: dict[str, Any]) -> bool:
    """True when ``out_dir`` holds a complete run of exactly these results (same keys, same
    failures, same code and configuration): publishing again would write the same thing."""
    try:
        previous = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    before = previous.get("run_summary") if isinstance(previous, dict) else None
    if not isinstance(before, dict):
        return False
    same = ("result_keys", "failed", "code", "config_hash", "capacity")
    if not (all(before.get(f) == summary[f] for f in same) and summary["result_keys"]):
        return False
    # and nobody removed a file since
    out_dir = Path(out_dir)
    return (out_dir / "national_ranking.csv").is_file() and all(
        any(out_dir.glob(f"{code}_*.gpkg")) for code in summary["result_keys"]
    )


def reusable_outputs(
    out_dir: Path, summary: dict[str, Any], results: Sequence[MunicipalityResult]
) -> dict[str, list[str]]:
    """The municipalities whose files in the run already in ``out_dir`` are still current,
    with those files (relative paths), for :func:`~magicmix_geo.pipeline.publish_run` to link.

    Current means: the same result key as there (``run_summary.result_keys``), the same code,
    configuration, capacity what-if, profiles and software version, and every file the
    manifest lists for that municipality still present. Anything unsure is rewritten.
    """
    try:
        previous = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    before = previous.get("run_summary") if isinstance(previous, dict) else None
    if not isinstance(before, dict) or not isinstance(before.get("result_keys"), dict):
        return {}
    if any(before.get(f) != summary[f] for f in ("code", "config_hash", "capacity")):
        return {}
    profiles = ",".join(sorted({str(p) for r in results for p in r.sites["profile"].unique()}))
    software = previous.get("software")
    version = software.get("version") if isinstance(software, dict) else None
    if previous.get("profile") != profiles or version != __version__:
        return {}
    entries = {
        m.get("gm_code"): m for m in previous.get("municipalities", []) if isinstance(m, dict)
    }
    reuse: dict[str, list[str]] = {}
    for result in results:
        code = result.gm_code
        key = summary["result_keys"].get(code)
        files = municipality_files(result)
        if key is None or before["result_keys"].get(code) != key:
            continue
        if entries.get(code, {}).get("files") != files:
            continue
        if all((Path(out_dir) / f).is_file() for f in files):
            reuse[code] = files
    return reuse


def load_results(
    outcomes: Sequence[AreaOutcome],
) -> tuple[list[MunicipalityResult], list[AreaOutcome]]:
    """The results of the successful outcomes (from the cache where they were left), sorted by
    code, and the outcomes with a missing cache entry turned into failures."""
    results: list[MunicipalityResult] = []
    updated: list[AreaOutcome] = []
    for outcome in outcomes:
        if outcome.status == "failed":
            updated.append(outcome)
            continue
        result = outcome.result
        if result is None and outcome.key and outcome.path:
            result = ResultCache(Path(outcome.path).parents[2]).load(outcome.key)
        if result is None:
            updated.append(
                replace(outcome, status="failed", error="cached result vanished before publishing")
            )
            continue
        results.append(result)
        sites = result.sites
        updated.append(
            replace(outcome, sites=len(sites),
                    ranked=int((~sites["excluded"].astype(bool)).sum()))
        )
    results.sort(key=lambda r: r.gm_code)
    return results, updated


def publish_national(
    outcomes: Sequence[AreaOutcome],
    settings: Settings,
    out_dir: Path,
    *,
    started: datetime,
    executor: str,
    rank_seconds: float,
    check_up_to_date: bool = True,
    console: Console | None = None,
    capacity: CapacityRun | None = None,
) -> NationalRun:
    """Publish the successful municipalities (gpkg, maps, national list, manifest with the run
    summary) into ``out_dir``, unless it already holds exactly these results."""
    console = console or stderr_console(False)
    clock = time.perf_counter()
    summary = run_summary(outcomes, settings, executor, rank_seconds, capacity)
    run = NationalRun(list(outcomes), Path(out_dir), False, False, executor, rank_seconds)
    if check_up_to_date and outputs_up_to_date(out_dir, summary):
        run.up_to_date = True
        return run
    results, final = load_results(outcomes)
    summary = run_summary(final, settings, executor, rank_seconds, capacity)
    run.outcomes = list(final)
    if not results:
        # nothing to publish: keep whatever an earlier run left in place
        return run
    # municipalities whose result is unchanged keep their files (linked, not rewritten)
    reuse = reusable_outputs(out_dir, summary, results)
    changed = len(results) - len(reuse)
    with spinner(
        f"publishing {changed} municipalities to {out_dir}"
        + (f" ({len(reuse)} unchanged, kept)" if reuse else ""),
        console=console,
    ):
        run.manifest = publish_run(
            results, Path(out_dir), settings, started=started, extra={"run_summary": summary},
            capacity=capacity, reuse=reuse,
        )
    run.published = True
    run.publish_seconds = time.perf_counter() - clock
    return run


def run_national(
    areas: Sequence[Area],
    settings: Settings,
    out_dir: Path,
    *,
    workers: int | None = None,
    dask_address: str | None = None,
    cache_dir: Path | None = None,
    console: Console | None = None,
    capacity: CapacityRun | None = None,
) -> NationalRun:
    """Rank ``areas`` (in parallel on Dask when asked) and publish the national outputs.

    An area is local files (:class:`~magicmix_geo.pipeline.RankInputs`, e.g. from an areas
    file) or a municipality of the acquisition data cache (:class:`CachedArea`).

    ``workers=None`` picks :func:`default_workers`; ``cache_dir=None`` disables the result cache
    (every municipality is recomputed and the results travel back from the workers).
    """
    console = console or stderr_console(False)
    started = datetime.now(UTC)
    cache_root = str(cache_dir) if cache_dir is not None else None
    clock = time.perf_counter()
    # results already in the cache need no cluster: look them up here first
    # on this machine a missing input file is reported at once; with a remote cluster only
    # the workers' view of the files counts
    outcomes = [
        probe_cache(a, settings, cache_root, local=not dask_address) for a in areas
    ] if cache_root else []
    hits = [o for o in outcomes if o is not None]
    todo = [a for a, o in zip(areas, outcomes or [None] * len(areas), strict=True) if o is None]
    executor = "none (every result cached)"
    if todo:
        if workers is None and not dask_address:
            workers = default_workers(len(todo))
        with dask_client(workers, dask_address) as client:
            executor = describe_executor(client, dask_address)
            cached = sum(o.status == "cached" for o in hits)
            console.print(
                f"magicmix-geo: ranking {len(todo)} municipalities on {executor}"
                + (f"; {cached} unchanged, from the cache" if cached else "")
            )
            computed = _rank_all(todo, settings, cache_root, client, console)
    else:
        cached = sum(o.status == "cached" for o in hits)
        console.print(f"magicmix-geo: nothing to rank; {cached} unchanged, from the cache")
        computed = []
    rank_seconds = time.perf_counter() - clock
    order = {a.gm_code: i for i, a in enumerate(areas)}
    final = sorted([*hits, *computed], key=lambda o: order[o.gm_code])
    return publish_national(
        final, settings, out_dir, started=started, executor=executor,
        rank_seconds=rank_seconds, check_up_to_date=cache_root is not None, console=console,
        capacity=capacity,
    )


def probe_cache(
    area: Area, settings: Settings, cache_root: str | None, *, local: bool = True
) -> AreaOutcome | None:
    """A ``cached`` outcome when the result of ``area`` is in the cache, a ``failed`` one for
    missing or bad input files when ``local``, else None: the area must be ranked (also any
    area from the data cache, whose files are only looked up on a worker)."""
    if cache_root is None or not isinstance(area, RankInputs):
        return None
    clock = time.perf_counter()
    try:
        check_inputs(area, settings)
        key = result_key(area, settings.hash)
    except (OSError, InputError) as exc:
        return failed_outcome(area.gm_code, exc, time.perf_counter() - clock) if local else None
    path = ResultCache(Path(cache_root)).path_for(key)
    if not path.is_file():
        return None
    return AreaOutcome(area.gm_code, "cached", time.perf_counter() - clock, key=key, path=str(path))


def _rank_all(
    areas: Sequence[Area],
    settings: Settings,
    cache_root: str | None,
    client: Client | None,
    console: Console,
) -> list[AreaOutcome]:
    outcomes: list[AreaOutcome] = []
    with progress_bar("ranking", len(areas), console=console) as bar:
        def record(outcome: AreaOutcome) -> None:
            outcomes.append(outcome)
            bar.advance(_outcome_line(outcome))

        if client is None:
            for inputs in areas:
                record(rank_area(inputs, settings, cache_root))
            return outcomes
        from distributed import as_completed

        settings_future = client.scatter(settings, broadcast=True)
        futures = {
            client.submit(rank_area, inputs, settings_future, cache_root, pure=False): inputs
            for inputs in areas
        }
        for future in as_completed(list(futures), loop=client.loop):
            inputs = futures[future]
            try:
                record(future.result())
            except Exception as exc:  # the worker died or the task could not run at all
                record(failed_outcome(inputs.gm_code, exc))
    return outcomes


def _outcome_line(outcome: AreaOutcome) -> str:
    if outcome.status == "failed":
        return f"  {outcome.gm_code} [bold red]failed[/] {outcome.error}"
    return (
        f"  {outcome.gm_code} {outcome.status} in {outcome.seconds:.1f} s "
        f"({outcome.sites} sites, {outcome.ranked} ranked)"
    )


def print_summary(run: NationalRun, console: Console) -> None:
    """The run summary: a table per municipality and one line of totals."""
    counts = run.counts
    console.print(summary_table([o.row() for o in run.outcomes], "national run"))
    if run.up_to_date:
        where = "outputs already up to date (nothing changed), not rewritten"
    elif run.published:
        where = "outputs written"
    else:
        where = "nothing published (no municipality ranked)"
    console.print(
        f"magicmix-geo: {counts['done']} computed, {counts['cached']} cached, "
        f"{counts['failed']} failed; ranking {run.rank_seconds:.1f} s, "
        f"publishing {run.publish_seconds:.1f} s; {where}"
    )


__all__ = [
    "DEFAULT_OUT",
    "AreaOutcome",
    "CachedArea",
    "NationalRun",
    "check_output_dir",
    "client_for",
    "compute_area",
    "dask_client",
    "parse_codes",
    "publish_national",
    "rank_area",
    "read_areas_file",
    "reusable_outputs",
    "run_national",
    "select_areas",
]
