"""The national orchestrator: many municipalities in one run, the only one (the CLI calls it,
``flows/`` wraps its steps in Prefect tasks).

1. :func:`plan_run` lists the municipalities (an areas file, or the acquisition data cache),
   resolves their files, parses every OSM file that municipalities share once for all of
   them and writes each one's slice (the OSM store, :mod:`magicmix_geo.prepare.extracts`),
   and looks their results up in the result cache.
2. :func:`process_area` ranks one municipality (through the result cache) and publishes its
   files into the run folder being built, on a Dask worker when there is a cluster (a
   ``LocalCluster`` of ``workers`` processes, or a scheduler at ``dask_address``), else in this
   process. Nothing but a small summary comes back: memory stays bounded by one municipality
   per worker, whatever the number of municipalities.
3. :func:`~magicmix_geo.publish.run.finish_run` writes the national lists from the
   municipalities' GeoPackages and the manifest; the run folder then replaces the old one.

A municipality that fails is recorded with its error and the others carry on; their outputs
are still published and the run's exit status is 1. Workers read the inputs, the result cache
and the run folder by path, so on a remote cluster these must live on a file system every
worker sees (the same paths on every machine).

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
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicmix_geo import __version__
from magicmix_geo._atomic import atomic_directory, check_output_dir
from magicmix_geo._errors import InputError
from magicmix_geo.cache import (
    ResultCache,
    check_inputs,
    code_fingerprint,
    rank_cached,
    result_key,
)
from magicmix_geo.cluster import default_workers, describe_executor, optional_client
from magicmix_geo.contract import GM_CODE, INPUT_KEYS, RankInputs, parse_gm_codes
from magicmix_geo.prepare.clip import CLIP_MARGIN_M
from magicmix_geo.prepare.extracts import EXTRACT_SLACK_M, share_osm_files
from magicmix_geo.prepare.osm import reader_keys
from magicmix_geo.progress import progress_bar, stderr_console, summary_table
from magicmix_geo.publish.run import (
    PreviousRun,
    Published,
    RunContext,
    finish_run,
    new_context,
    publish_municipality,
)
from magicmix_geo.score.capacity import CapacityRun

if TYPE_CHECKING:
    from distributed import Client
    from rich.console import Console

    from magicmix_geo.config import Settings

AREA_KEYS = INPUT_KEYS
PATH_KEYS = ("osm", "boundary", "bag", "grid", "candidates", "plans")
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
    acquire``); they are looked up, and an OSM slice cut if needed, on the worker."""

    gm_code: str
    data_dir: Path | None = None
    profile: str = "singles"
    plans: Path | None = None  # issue 14: a plans file (--plans)


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

    inputs, chosen = cached_rank_inputs(
        settings, area.gm_code, data_dir=area.data_dir, profile=area.profile
    )
    return replace(inputs, plans=area.plans), chosen  # issue 14


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
    return parse_gm_codes(text, "--areas")


# -- the plan ---------------------------------------------------------------------------------


@dataclass
class RunPlan:
    """The municipalities of a run, resolved to local files, before any is ranked."""

    inputs: list[RankInputs]
    failed: list[AreaOutcome]
    provenance: dict[str, dict[str, Any] | None]
    # gm_code -> result key, for the municipalities whose result is in the result cache
    hits: dict[str, str]
    # what the OSM store did: passes over and parses of each shared file, slices cut and
    # reused, seconds
    osm: list[dict[str, Any]]

    @property
    def todo(self) -> list[str]:
        return [i.gm_code for i in self.inputs if i.gm_code not in self.hits]


def plan_run(
    areas: Sequence[Area],
    settings: Settings,
    cache_root: str | None,
    *,
    local: bool = True,
    log: Callable[[str], None] | None = None,
) -> RunPlan:
    """Resolve every area to local files, cut the slices of the municipalities that share an
    OSM file (each object parsed once), and look their results up in the result cache.

    An area whose files cannot be resolved becomes a failed outcome; the others go on. With
    ``local`` False (a remote cluster) missing input files are left for the workers to report.
    """
    resolved: list[RankInputs] = []
    failed: list[AreaOutcome] = []
    provenance: dict[str, dict[str, Any] | None] = {}
    for area in areas:
        clock = time.perf_counter()
        try:
            inputs, provenance[area.gm_code] = resolve_area(area, settings)
        except Exception as exc:
            failed.append(failed_outcome(area.gm_code, exc, time.perf_counter() - clock))
            continue
        resolved.append(inputs)
    store = extract_store(cache_root)
    shared, osm_runs, refused = share_osm_files(
        resolved,
        settings.walk.clip_buffer_m + CLIP_MARGIN_M + EXTRACT_SLACK_M,
        store,
        reader_keys(settings),
        log=log,
    )
    failed += [failed_outcome(code, exc) for code, exc in refused.items()]
    hits: dict[str, str] = {}
    if cache_root is not None:
        cache = ResultCache(Path(cache_root))
        for inputs in list(shared):
            clock = time.perf_counter()
            try:
                check_inputs(inputs, settings)
                key = result_key(inputs, settings.hash)
            except (OSError, InputError) as exc:
                if local:
                    shared.remove(inputs)
                    failed.append(failed_outcome(inputs.gm_code, exc, time.perf_counter() - clock))
                continue
            if cache.path_for(key).is_file():
                hits[inputs.gm_code] = key
    return RunPlan(shared, failed, provenance, hits, osm_runs)


def extract_store(cache_root: str | None) -> Path:
    """Where the municipal OSM slices live: beside the result cache."""
    from magicmix_geo.cache import default_cache_dir

    return Path(cache_root or default_cache_dir()) / "osm-extracts"


# -- one municipality -------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaOutcome:
    """What happened to one municipality. ``status`` is ``done``, ``cached`` or ``failed``."""

    gm_code: str
    status: str
    seconds: float
    key: str | None = None
    # CPU seconds of the process that ranked and published it (all its threads): wall
    # seconds well above this mean the process waited (a loaded machine), not more work
    cpu_seconds: float | None = None
    sites: int | None = None
    ranked: int | None = None
    error: str | None = None
    where: str | None = None
    provenance: dict[str, Any] | None = field(default=None, repr=False)
    detail: str | None = field(default=None, repr=False)
    published: Published | None = field(default=None, repr=False, compare=False)

    def row(self) -> dict[str, Any]:
        """The manifest / summary row (no files, no traceback)."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        for private in ("published", "detail"):
            del row[private]
        row["seconds"] = round(self.seconds, 3)
        if self.cpu_seconds is not None:
            row["cpu_seconds"] = round(self.cpu_seconds, 3)
        if row["provenance"] is None:
            del row["provenance"]
        return row


def process_area(
    inputs: RankInputs,
    settings: Settings,
    cache_root: str | None,
    staging: str,
    context: RunContext,
) -> AreaOutcome:
    """Rank one municipality (through the result cache) and publish its files into the run
    folder being built; a failure becomes a ``failed`` outcome (the others go on)."""
    clock, cpu_clock = time.perf_counter(), time.process_time()
    try:
        cache = ResultCache(Path(cache_root)) if cache_root else None
        ranked = rank_cached(inputs, settings, cache)
        sites = ranked.result.sites
        published = publish_municipality(
            Path(staging), ranked.result, ranked.key, context, settings
        )
    except Exception as exc:
        return failed_outcome(inputs.gm_code, exc, time.perf_counter() - clock)
    return AreaOutcome(
        gm_code=inputs.gm_code,
        status="cached" if ranked.hit else "done",
        seconds=time.perf_counter() - clock,
        cpu_seconds=time.process_time() - cpu_clock,
        key=ranked.key,
        sites=len(sites),
        ranked=int((~sites["excluded"].astype(bool)).sum()),
        where=f"{socket.gethostname()}:{os.getpid()}",
        published=published,
    )


def failed_outcome(gm_code: str, exc: BaseException, seconds: float = 0.0) -> AreaOutcome:
    message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return AreaOutcome(gm_code, "failed", seconds, error=message, detail=detail)


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
    keys: dict[str, str] | None = None,
    lang: str = "nl",
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
        "result_keys": keys
        if keys is not None
        else {o.gm_code: o.key for o in outcomes if o.status != "failed"},
        "failed": sorted(o.gm_code for o in outcomes if o.status == "failed"),
        "code": code_fingerprint(),
        "config_hash": settings.hash,
        "capacity": capacity.fingerprint() if capacity else None,
        "lang": lang,
    }


def outputs_up_to_date(out_dir: Path, summary: dict[str, Any]) -> bool:
    """True when ``out_dir`` holds a complete run of exactly these results (same keys, same
    failures, same code and configuration): publishing again would write the same thing."""
    before = _previous_summary(out_dir)
    if before is None:
        return False
    same = ("result_keys", "failed", "code", "config_hash", "capacity", "lang")
    if not (all(before.get(f) == summary.get(f) for f in same) and summary["result_keys"]):
        return False
    # and nobody removed a file since
    out_dir = Path(out_dir)
    return (out_dir / "national_ranking.csv").is_file() and all(
        any(out_dir.glob(f"{code}_*.gpkg")) for code in summary["result_keys"]
    )


def previous_run(out_dir: Path, summary: dict[str, Any], profiles: str) -> PreviousRun | None:
    """The run already in ``out_dir`` when its files may be reused: the same code,
    configuration, capacity what-if, profiles and software version (per municipality the
    result key and the file list are checked again when it is published)."""
    out_dir = Path(out_dir)
    try:
        previous = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    before = previous.get("run_summary") if isinstance(previous, dict) else None
    if not isinstance(before, dict) or not isinstance(before.get("result_keys"), dict):
        return None
    if any(before.get(f) != summary.get(f) for f in ("code", "config_hash", "capacity", "lang")):
        return None
    software = previous.get("software")
    version = software.get("version") if isinstance(software, dict) else None
    if previous.get("profile") != profiles or version != __version__:
        return None
    files = {
        str(m.get("gm_code")): list(m.get("files", []))
        for m in previous.get("municipalities", [])
        if isinstance(m, dict)
    }
    keys = {str(k): str(v) for k, v in before["result_keys"].items() if v}
    return PreviousRun(folder=out_dir, keys=keys, files=files)


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
    lang: str = "nl",
) -> NationalRun:
    """Rank ``areas`` (in parallel on Dask when asked) and publish the national outputs.

    An area is local files (:class:`~magicmix_geo.contract.RankInputs`, e.g. from an areas
    file) or a municipality of the acquisition data cache (:class:`CachedArea`).
    ``workers=None`` picks :func:`~magicmix_geo.cluster.default_workers`; ``cache_dir=None``
    disables the result cache (every municipality is recomputed).
    """
    console = console or stderr_console(False)
    started = datetime.now(UTC)
    out_dir = check_output_dir(out_dir)
    cache_root = str(cache_dir) if cache_dir is not None else None
    capacity = capacity or CapacityRun(share=settings.capacity.reserve_share)
    clock = time.perf_counter()
    cluster = EarlyCluster(
        workers if workers is not None else default_workers(len(areas)), dask_address
    )
    with contextlib.closing(cluster):
        return _run(
            areas, settings, out_dir, cluster, workers, dask_address, cache_root, console,
            capacity, lang, started, clock,
        )  # fmt: skip


def _run(
    areas: Sequence[Area],
    settings: Settings,
    out_dir: Path,
    cluster: EarlyCluster,
    workers: int | None,
    dask_address: str | None,
    cache_root: str | None,
    console: Console,
    capacity: CapacityRun,
    lang: str,
    started: datetime,
    clock: float,
) -> NationalRun:
    def store_log(message: str) -> None:
        # the OSM store speaks only before a pass over a file: start the workers now, they
        # spawn and import the pipeline while osmium reads
        cluster.start()
        console.print(message)

    plan = plan_run(areas, settings, cache_root, local=not dask_address, log=store_log)
    order = {a.gm_code: i for i, a in enumerate(areas)}
    if not plan.todo and cache_root is not None:
        keys = {i.gm_code: plan.hits[i.gm_code] for i in plan.inputs}
        summary = run_summary(plan.failed, settings, "none", 0.0, capacity, keys, lang)
        if plan.inputs and outputs_up_to_date(out_dir, summary):
            console.print(
                f"magicmix-geo: nothing to rank; {len(plan.hits)} unchanged, from the cache"
            )
            hits = [AreaOutcome(c, "cached", 0.0, key=k) for c, k in keys.items()]
            outcomes = sorted([*hits, *plan.failed], key=lambda o: order[o.gm_code])
            return NationalRun(
                outcomes,
                Path(out_dir),
                False,
                True,
                "none (every result cached)",
                time.perf_counter() - clock,
            )
    profiles = ",".join(sorted({i.profile for i in plan.inputs}))
    previous = previous_run(
        out_dir, run_summary([], settings, "", 0.0, capacity, {}, lang), profiles
    )
    if cluster.started:
        workers = cluster.workers
    elif workers is None and not dask_address:
        workers = default_workers(len(plan.todo) or len(plan.inputs))
    if not plan.inputs:
        return NationalRun(
            sorted(plan.failed, key=lambda o: order[o.gm_code]),
            Path(out_dir),
            False,
            False,
            "none",
            time.perf_counter() - clock,
        )
    try:
        return _rank_and_publish(
            cluster,
            plan,
            settings,
            out_dir,
            cache_root,
            started,
            capacity,
            previous,
            workers,
            dask_address,
            console,
            clock,
            order,
            lang,
        )
    except _NothingPublishedError as nothing:
        return nothing.run


def _rank_and_publish(
    cluster: EarlyCluster,
    plan: RunPlan,
    settings: Settings,
    out_dir: Path,
    cache_root: str | None,
    started: datetime,
    capacity: CapacityRun,
    previous: PreviousRun | None,
    workers: int | None,
    dask_address: str | None,
    console: Console,
    clock: float,
    order: dict[str, int],
    lang: str,
) -> NationalRun:
    """Process every planned municipality into a new run folder and finish it; the folder
    replaces ``out_dir`` only when all is written (and when anything was published)."""
    with atomic_directory(out_dir) as staging:
        context = new_context(settings, started, capacity, previous=previous, lang=lang)
        with cluster.client(workers if plan.inputs else 0) as client:
            executor = describe_executor(client, dask_address)
            cached = len(plan.hits)
            if plan.todo:
                console.print(
                    f"magicmix-geo: ranking {len(plan.todo)} municipalities on {executor}"
                    + (f"; {cached} unchanged, from the cache" if cached else "")
                )
            else:
                console.print(f"magicmix-geo: nothing to rank; {cached} unchanged, from the cache")
            computed = _process_all(plan, settings, cache_root, staging, context, client, console)
        rank_seconds = time.perf_counter() - clock
        outcomes = sorted([*computed, *plan.failed], key=lambda o: order[o.gm_code])
        outcomes = [
            replace(o, provenance=plan.provenance.get(o.gm_code)) if o.status != "failed" else o
            for o in outcomes
        ]
        done = [o.published for o in outcomes if o.published is not None]
        run = NationalRun(outcomes, Path(out_dir), False, False, executor, rank_seconds)
        if not done:
            # nothing to publish: keep whatever an earlier run left in place
            raise _NothingPublishedError(run)
        finish_clock = time.perf_counter()
        summary = run_summary(outcomes, settings, executor, rank_seconds, capacity, lang=lang)
        run.manifest = finish_run(
            staging,
            context,
            done,
            settings,
            extra={"run_summary": summary, "osm_store": plan.osm},
        )
        run.published = True
        run.publish_seconds = time.perf_counter() - finish_clock
    return run


class EarlyCluster:
    """The Dask client of a run, started early when there is time to win: :meth:`start`
    (when the OSM store begins a pass over a file) spawns the LocalCluster's workers in a
    thread, and they import the pipeline (:func:`warm_worker`) while osmium reads; then
    :meth:`client` hands that client over. Not started, :meth:`client` opens one as usual
    (and an existing scheduler at ``address`` is always connected to then). :meth:`close`
    closes what was started."""

    def __init__(self, workers: int | None, address: str | None) -> None:
        self.workers = workers
        self.address = address
        self._stack = contextlib.ExitStack()
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future[Client | None] | None = None

    @property
    def started(self) -> bool:
        return self._future is not None

    def start(self) -> None:
        """Start the LocalCluster in a thread (once; not for a remote scheduler or 0 workers)."""
        if self._future is None and self.workers and not self.address:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="magicmix-cluster")
            self._future = self._pool.submit(self._open, self.workers)

    def _open(self, workers: int) -> Client | None:
        client = self._stack.enter_context(optional_client(workers, None))
        if client is not None:
            # only a head start: a worker in trouble reports it with its first municipality
            with contextlib.suppress(Exception):
                client.run(warm_worker)
        return client

    @contextlib.contextmanager
    def client(self, workers: int | None) -> Iterator[Client | None]:
        """The client started early (``workers`` is then what it was started with), else a
        new one for ``workers`` (0: none, work in this process) or the ``address``."""
        if self._future is not None:
            yield self._future.result()
            return
        with optional_client(workers, self.address) as client:
            yield client

    def close(self) -> None:
        if self._future is not None:
            with contextlib.suppress(Exception):
                self._future.result()  # started: let it come up before closing it
        self._stack.close()
        if self._pool is not None:
            self._pool.shutdown()


def warm_worker() -> None:
    """Import what ranking a municipality needs (on each worker while the OSM store reads;
    otherwise each worker's first municipality pays for it)."""
    import magicmix_geo.pipeline  # noqa: F401


class _NothingPublishedError(Exception):
    def __init__(self, run: NationalRun) -> None:
        super().__init__("no municipality ranked")
        self.run = run


def _process_all(
    plan: RunPlan,
    settings: Settings,
    cache_root: str | None,
    staging: Path,
    context: RunContext,
    client: Client | None,
    console: Console,
) -> list[AreaOutcome]:
    outcomes: list[AreaOutcome] = []
    with progress_bar("ranking and publishing", len(plan.inputs), console=console) as bar:

        def record(outcome: AreaOutcome) -> None:
            outcomes.append(outcome)
            bar.advance(_outcome_line(outcome))

        if client is None:
            for inputs in plan.inputs:
                record(process_area(inputs, settings, cache_root, str(staging), context))
            return outcomes
        from distributed import as_completed

        shared = client.scatter([settings, context], broadcast=True)
        futures = {
            client.submit(
                process_area, inputs, shared[0], cache_root, str(staging), shared[1], pure=False
            ): inputs
            for inputs in plan.inputs
        }
        for future in as_completed(list(futures), loop=client.loop):
            inputs = futures[future]
            try:
                record(future.result())
            except Exception as exc:  # the worker died or the task could not run at all
                record(failed_outcome(inputs.gm_code, exc))
    return outcomes


def _previous_summary(out_dir: Path) -> dict[str, Any] | None:
    try:
        previous = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    before = previous.get("run_summary") if isinstance(previous, dict) else None
    return before if isinstance(before, dict) else None


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
