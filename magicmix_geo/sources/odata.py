"""CBS OData v3 tables as a best-effort filler of figures the Wijk- en Buurtkaart lacks.

CBS publishes the kerncijfers wijken en buurten (85618NED for 2023, 85984NED for 2024, ...)
at ``https://opendata.cbs.nl/ODataFeed/odata/<table>``: ``TableInfos`` (title, modified),
``DataProperties`` (one row per measure: ``Key`` such as ``AantalInwoners_5``, ``Type``
``"Topic"``) and ``TypedDataSet`` (one row per region; region codes space-padded to ten
characters, ``"GM0503    "``; suppressed values null; pages linked by ``odata.nextLink``).

The numeric suffix of a measure key changes with every year's table
(``GemiddeldeWOZWaardeVanWoningen_35`` in 2021, ``_36`` in 2023, ``_39`` in 2024), so measures
are matched on their name stem, never on a numbered key.

Plain ``requests`` through :mod:`magicmix_geo.sources._http`, not ``cbsodata`` (v3, no
timeout: a stalled connection hangs the night; table metadata fetched per call) nor
``cbsodata4`` (OData v4 at ``datasets.cbs.nl``: a long Observations format, and the
kerncijfers tables we fill from are published in v3): every request here has a read
timeout, a retry budget of its own and the acquire's overall deadline; metadata is fetched
once per table per run; a failing table is given up for the run (the cached rows of the
previous run stay in use) and reported, without stopping the other sources.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import requests

from magicmix_geo.formats import cbs as cbs_readers
from magicmix_geo.sources._http import RetryPolicy, SourceError, get_json
from magicmix_geo.sources.cache import now_iso

SOURCE = "odata"
MEASURE_SUFFIX = re.compile(r"_\d+$")
REGION_KEY = "WijkenEnBuurten"
# a runaway pager (a nextLink to itself) stops here; 85618NED has ~17,000 regions, 10,000 a page
MAX_PAGES = 1000


def measure_stem(key: str) -> str:
    """``"GemiddeldeWOZWaardeVanWoningen_36"`` -> ``"gemiddeldewozwaardevanwoningen"``."""
    return MEASURE_SUFFIX.sub("", str(key).strip()).lower()


def table_url(base: str, table: str) -> str:
    return f"{base.rstrip('/')}/ODataFeed/odata/{table}"


@dataclass(frozen=True)
class TableMeta:
    """What a table's ``TableInfos`` and ``DataProperties`` say."""

    table: str
    url: str
    title: str | None
    modified: str | None
    # measure name stem (lower case) -> the key in this table
    measures: dict[str, str]


def fetch_meta(
    base: str, table: str, *, session: requests.Session, policy: RetryPolicy
) -> TableMeta:
    """Read ``TableInfos`` and ``DataProperties`` of ``table`` (one request each)."""
    url = table_url(base, table)
    infos = _values(url + "/TableInfos", session, policy)
    props = _values(url + "/DataProperties", session, policy)
    info = infos[0] if infos else {}
    measures: dict[str, str] = {}
    for prop in props:
        key = prop.get("Key")
        if prop.get("Type") == "Topic" and isinstance(key, str):
            measures.setdefault(measure_stem(key), key)
    return TableMeta(table, url, info.get("Title"), info.get("Modified"), measures)


def fetch_rows(
    meta: TableMeta,
    gm_code: str,
    keys: Sequence[str],
    *,
    session: requests.Session,
    policy: RetryPolicy,
) -> pd.DataFrame:
    """``TypedDataSet`` rows of the gemeente ``gm_code`` and its buurten, measures ``keys``.

    Returns ``statcode`` (the region code without CBS's padding) and the ``keys`` columns.
    """
    digits = gm_code[2:]
    where = f"startswith({REGION_KEY},'BU{digits}') or startswith({REGION_KEY},'{gm_code}')"
    params: dict[str, Any] | None = {
        "$filter": where,
        "$select": ",".join([REGION_KEY, *keys]),
        "$format": "json",
    }
    url: str | None = meta.url + "/TypedDataSet"
    rows: list[dict[str, Any]] = []
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise SourceError(SOURCE, f"{meta.table}: more than {MAX_PAGES} pages; stopped")
        doc, _ = get_json(url, source=SOURCE, session=session, policy=policy, params=params)
        if not isinstance(doc, dict) or not isinstance(doc.get("value"), list):
            raise SourceError(SOURCE, f"{url}: not an OData answer (no 'value' list)")
        rows.extend(r for r in doc["value"] if isinstance(r, dict))
        url = doc.get("odata.nextLink") or doc.get("@odata.nextLink")
        params = None  # a next link carries all parameters
    frame = pd.DataFrame.from_records(rows, columns=[REGION_KEY, *keys])
    codes = frame.pop(REGION_KEY).astype(str).str.strip()
    frame.insert(0, "statcode", codes)
    return frame


@dataclass
class ODataFiller:
    """The OData tables of one acquire run: metadata once per table, failures remembered.

    ``policy`` is the acquire's (its deadline is kept); OData gets its own timeout and
    attempts (``[cbs] odata_timeout_s``, ``odata_attempts``) so that a stalled endpoint costs
    at most ``attempts * timeout`` once per table, not once per municipality.
    """

    base: str
    tables: Sequence[str]
    measures: Mapping[str, str]
    session: requests.Session
    policy: RetryPolicy
    log: Callable[[str], None] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    _meta: dict[str, TableMeta] = field(default_factory=dict)

    @classmethod
    def bounded(
        cls,
        base: str,
        tables: Sequence[str],
        measures: Mapping[str, str],
        *,
        session: requests.Session,
        policy: RetryPolicy,
        timeout_s: float,
        attempts: int,
        log: Callable[[str], None] | None = None,
    ) -> ODataFiller:
        own = dataclasses.replace(
            policy, timeout_s=min(timeout_s, policy.timeout_s), attempts=max(1, attempts)
        )
        return cls(base, list(tables), dict(measures), session, own, log)

    def rows(self, table: str, gm_code: str) -> tuple[pd.DataFrame | None, dict[str, Any]]:
        """The rows of ``table`` for ``gm_code``, or None and the error (never raises)."""
        if table in self.errors:
            return None, {"table": table, "error": self.errors[table]}
        try:
            meta = self._meta.get(table) or fetch_meta(
                self.base, table, session=self.session, policy=self.policy
            )
            self._meta[table] = meta
            wanted = {stem.lower() for stem in self.measures.values()}
            keys = [key for stem, key in meta.measures.items() if stem in wanted]
            frame = fetch_rows(meta, gm_code, keys, session=self.session, policy=self.policy)
        except SourceError as exc:
            self.errors[table] = str(exc)
            if self.log:
                self.log(f"{SOURCE}: {table}: FAILED ({exc}); previous rows kept where cached")
            return None, {"table": table, "error": str(exc)}
        if self.log:
            self.log(f"{SOURCE}: {table}: {len(frame)} rows for {gm_code}")
        missing = sorted(
            s for s in {v.lower() for v in self.measures.values()} if s not in meta.measures
        )
        return frame, {
            "table": table,
            "url": meta.url,
            "title": meta.title,
            "version": meta.modified,
            "measures": {
                s: meta.measures[s]
                for s in sorted(meta.measures)
                if s in {v.lower() for v in self.measures.values()}
            },
            "measures_missing": missing,
            "retrieved_at": now_iso(),
        }


def fill_from_odata(
    buurten: gpd.GeoDataFrame, odata: pd.DataFrame, measures: Mapping[str, str]
) -> tuple[gpd.GeoDataFrame, int]:
    """Fill the map's figures that are null or absent from OData rows, matched on ``bu_code``.

    Parameters
    ----------
    buurten
        Buurten as from :func:`magicmix_geo.formats.cbs.read_cbs_buurten`.
    odata
        Rows with ``statcode`` and measure columns under their table keys
        (``GemiddeldeWOZWaardeVanWoningen_36``).
    measures
        Map column -> OData measure name stem (``{"gemiddeldeWoningwaarde":
        "GemiddeldeWOZWaardeVanWoningen"}``): which OData measure fills which map figure.
        A map column the buurten lack is added.

    Returns
    -------
    tuple
        The filled frame and how many values were filled. CBS's negative codes count as
        missing on both sides.
    """
    if odata.empty or "statcode" not in odata.columns:
        return buurten, 0
    codes = odata["statcode"].astype(str).str.strip()
    rows = odata.assign(statcode=codes).loc[codes.str.startswith("BU")]
    rows = rows.drop_duplicates("statcode").set_index("statcode")
    by_stem = {measure_stem(c): c for c in rows.columns}
    out = buurten.copy()
    filled = 0
    for target, stem in measures.items():
        column = by_stem.get(stem.lower())
        if column is None:
            continue
        values = pd.to_numeric(rows[column], errors="coerce")
        mapped = out["bu_code"].map(values).astype("float64")
        mapped = mapped.mask(mapped <= cbs_readers.SENTINEL_MAX)
        if target not in out.columns:
            out[target] = mapped
            filled += int(mapped.notna().sum())
            continue
        current = pd.to_numeric(out[target], errors="coerce")
        gap = current.isna() & mapped.notna()
        if gap.any():
            out[target] = current.where(~gap, mapped)
            filled += int(gap.sum())
    return out, filled


def _values(url: str, session: requests.Session, policy: RetryPolicy) -> list[dict[str, Any]]:
    doc, _ = get_json(
        url, source=SOURCE, session=session, policy=policy, params={"$format": "json"}
    )
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), list):
        raise SourceError(SOURCE, f"{url}: not an OData answer (no 'value' list)")
    return [v for v in doc["value"] if isinstance(v, dict)]
