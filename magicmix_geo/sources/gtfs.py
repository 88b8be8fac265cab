"""The national Dutch GTFS feed, reduced to departures per stop per hour on a weekday.

:func:`departures_per_hour` is the table the transit criterion weighs stops by: one row per
stop (``stop_id``, ``stop_name``, ``lat``, ``lon``, ``departures_per_hour``). ``stop_times.txt``
of the national feed has tens of millions of rows; it is read in chunks, only the needed
columns.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from magicmix_geo._atomic import atomic_path
from magicmix_geo.config import Settings
from magicmix_geo.sources._http import RetryPolicy, SourceError, Validators, download
from magicmix_geo.sources.cache import DataCache, now_iso, source_option, source_url

SOURCE = "gtfs"
CHUNK_ROWS = 2_000_000
TUESDAY = 1  # date.weekday()
DEPARTURE_COLUMNS = ["stop_id", "stop_name", "lat", "lon", "departures_per_hour"]


def acquire_gtfs(
    cache: DataCache,
    settings: Settings,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Download / refresh the feed and write ``departures_per_hour.csv``; write the manifest."""
    url = source_url(settings, SOURCE)
    previous = cache.read_manifest(SOURCE) or {}
    target = cache.source_dir(SOURCE) / (Path(url.split("?")[0]).name or "gtfs.zip")
    validators = Validators(previous.get("etag"), previous.get("last_modified"))
    result = download(
        url,
        target,
        source=SOURCE,
        session=session,
        policy=policy,
        previous=validators if previous else None,
    )
    if log:
        log(
            f"{SOURCE}: {target.name} {result.status.replace('_', ' ')}"
            + (" (resumed)" if result.resumed else "")
        )
    table_path = cache.gtfs_departures()
    changed = result.status == "downloaded" or not table_path.is_file()
    start = int(source_option(settings, SOURCE, "day_start_hour", 7))
    end = int(source_option(settings, SOURCE, "day_end_hour", 19))
    if changed:
        table = departures_per_hour(target, start_hour=start, end_hour=end)
        with atomic_path(table_path) as tmp:
            table.to_csv(tmp, index=False)
        day = table.attrs["service_date"]
    else:
        day = previous.get("service_date")
    info = feed_info(target)
    src = settings.sources[SOURCE]
    manifest = {
        "source": SOURCE,
        "url": url,
        "path": str(target.relative_to(cache.root)),
        "table": str(table_path.relative_to(cache.root)),
        "retrieved_at": now_iso()
        if result.status == "downloaded"
        else previous.get("retrieved_at", now_iso()),
        "checked_at": now_iso(),
        "version": info.get("feed_version") or result.validators.last_modified,
        "feed_publisher": info.get("feed_publisher_name"),
        "service_date": day,
        "hours": [start, end],
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "etag": result.validators.etag,
        "last_modified": result.validators.last_modified,
        # a GTFS feed states no licence; feed_info names only the publisher
        "licence": src.licence,
        "licence_from": "config",
        "attribution": src.attribution,
    }
    cache.write_manifest(SOURCE, manifest)
    return manifest


def departures_per_hour(
    feed: Path,
    *,
    date: dt.date | None = None,
    start_hour: int = 7,
    end_hour: int = 19,
) -> pd.DataFrame:
    """Departures per stop per hour on one weekday, averaged over ``start_hour``-``end_hour``.

    Parameters
    ----------
    feed
        A GTFS zip (stops, trips, stop_times, and calendar and/or calendar_dates).
    date
        The service day; by default the first Tuesday of the feed's period that is not a
        Dutch public holiday and on which any service runs (a plain weekday, away from
        weekend and Monday peculiarities).
    start_hour, end_hour
        The window, in hours of the service day (end exclusive); a departure at 25:10 is
        at hour 25 and outside a 7-19 window.

    Returns
    -------
    pd.DataFrame
        ``stop_id``, ``stop_name``, ``lat``, ``lon`` (WGS84), ``departures_per_hour`` (float,
        0 for a stop without departures in the window), one row per stop place (a parent
        station with the departures of all its platforms summed, or a boarding point without
        parent; see :func:`stop_places`) with plausible coordinates, sorted by ``stop_id``.
        ``attrs["service_date"]`` is the day used (ISO).

    Raises
    ------
    SourceError
        Not a readable GTFS zip, a required file missing, or no service on any Tuesday.
    """
    if not 0 <= start_hour < end_hour <= 48:
        raise ValueError(
            f"hours: need 0 <= start_hour < end_hour <= 48, got {start_hour}-{end_hour}"
        )
    try:
        zf = zipfile.ZipFile(feed)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(SOURCE, f"{feed}: not a readable GTFS zip ({exc})") from exc
    with zf:
        names = set(zf.namelist())
        for required in ("stops.txt", "trips.txt", "stop_times.txt"):
            if required not in names:
                raise SourceError(SOURCE, f"{feed}: {required} missing from the feed")
        calendar = _read(zf, "calendar.txt") if "calendar.txt" in names else None
        dates = _read(zf, "calendar_dates.txt") if "calendar_dates.txt" in names else None
        if calendar is None and dates is None:
            raise SourceError(SOURCE, f"{feed}: neither calendar.txt nor calendar_dates.txt")
        day = date or first_service_tuesday(calendar, dates, feed)
        services = active_services(calendar, dates, day)
        trips = _read(zf, "trips.txt", usecols=["trip_id", "service_id"])
        active_trips = set(trips.loc[trips["service_id"].isin(services), "trip_id"])
        counts = _count_departures(zf, active_trips, start_hour, end_hour)
        stops = _read(zf, "stops.txt")
    table = _per_stop_place(stops, counts, end_hour - start_hour)
    table.attrs["service_date"] = day.isoformat()
    return table


def stop_places(stops: pd.DataFrame) -> pd.DataFrame:
    """Boarding points and the stop place each belongs to, with the place's name and position.

    Parameters
    ----------
    stops
        ``stops.txt`` as text columns.

    Returns
    -------
    pd.DataFrame
        One row per boarding point (``location_type`` 0 or empty): ``stop_id`` and ``place``
        (its ``parent_station`` when that is a station in the feed, else itself), ``name``,
        ``lat``, ``lon`` of the place. A place with dummy coordinates (OVapi stop areas at
        0.02, 0.002) takes the mean position of its boarding points.
    """
    kind = pd.to_numeric(
        stops.get("location_type", pd.Series("", index=stops.index)), errors="coerce"
    ).fillna(0)
    lat = pd.to_numeric(stops["stop_lat"], errors="coerce")
    lon = pd.to_numeric(stops["stop_lon"], errors="coerce")
    # dummy coordinates (0, 0 and the like) mark stops without a place
    plausible = lat.between(-90, 90) & lon.between(-180, 180) & ~((lat.abs() < 1) & (lon.abs() < 1))
    ids = stops["stop_id"].astype(str)
    names = stops.get("stop_name", pd.Series("", index=stops.index)).astype(str)
    stations = ids.loc[kind == 1]
    parent = stops.get("parent_station", pd.Series("", index=stops.index)).astype(str).str.strip()
    boarding = kind == 0
    place = ids.where(~(parent.isin(set(stations)) & boarding), parent)
    points = pd.DataFrame(
        {
            "stop_id": ids,
            "place": place,
            "lat": lat.where(plausible),
            "lon": lon.where(plausible),
        }
    ).loc[boarding]
    mean = points.groupby("place")[["lat", "lon"]].mean()
    info = pd.DataFrame(
        {
            "name": names.to_numpy(),
            "lat": lat.where(plausible).to_numpy(),
            "lon": lon.where(plausible).to_numpy(),
        },
        index=ids.to_numpy(),
    )
    info = info.loc[~info.index.duplicated()]
    own = info.reindex(mean.index)
    out = pd.DataFrame(
        {
            "place": mean.index,
            "name": own["name"].to_numpy(),
            "lat": own["lat"].fillna(mean["lat"]).to_numpy(),
            "lon": own["lon"].fillna(mean["lon"]).to_numpy(),
        }
    )
    return points[["stop_id", "place"]].merge(out, on="place", how="left")


def dutch_public_holidays(year: int) -> set[dt.date]:
    """The Dutch national holidays of ``year`` (Algemene termijnenwet, art. 3).

    Nieuwjaarsdag, Goede Vrijdag, Eerste en Tweede Paasdag, Koningsdag (27 April, 26 April
    when the 27th is a Sunday), Bevrijdingsdag (5 May), Hemelvaartsdag, Eerste en Tweede
    Pinksterdag, Eerste en Tweede Kerstdag.
    """
    easter = _easter(year)
    kings = dt.date(year, 4, 27)
    if kings.weekday() == 6:
        kings = dt.date(year, 4, 26)
    offsets = (-2, 0, 1, 39, 49, 50)
    return {
        dt.date(year, 1, 1),
        kings,
        dt.date(year, 5, 5),
        dt.date(year, 12, 25),
        dt.date(year, 12, 26),
        *(easter + dt.timedelta(days=d) for d in offsets),
    }


def first_service_tuesday(
    calendar: pd.DataFrame | None, dates: pd.DataFrame | None, feed: Path
) -> dt.date:
    """The first Tuesday of the feed's period that is no public holiday and has service."""
    stamps: list[pd.Series] = []
    if calendar is not None and len(calendar):
        stamps += [calendar["start_date"].astype(str), calendar["end_date"].astype(str)]
    if dates is not None and len(dates):
        stamps.append(dates["date"].astype(str))
    unique = pd.concat(stamps).drop_duplicates() if stamps else pd.Series(dtype=str)
    # parsed once per distinct date, vectorised (calendar_dates of the national feed is large)
    days = pd.to_datetime(unique, format="%Y%m%d", errors="coerce").dropna()
    if days.empty:
        raise SourceError(SOURCE, f"{feed}: the calendar holds no dates")
    first, last = days.min().date(), days.max().date()
    day = first + dt.timedelta(days=(TUESDAY - first.weekday()) % 7)
    while day <= last:
        if day not in dutch_public_holidays(day.year) and active_services(calendar, dates, day):
            return day
        day += dt.timedelta(days=7)
    raise SourceError(SOURCE, f"{feed}: no service runs on any ordinary Tuesday of the feed")


def active_services(
    calendar: pd.DataFrame | None, dates: pd.DataFrame | None, day: dt.date
) -> set[str]:
    """service_ids running on ``day`` (calendar.txt weekdays and ranges, then exceptions)."""
    stamp = day.strftime("%Y%m%d")
    active: set[str] = set()
    if calendar is not None and len(calendar):
        weekday = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[
            day.weekday()
        ]
        runs = (
            (calendar[weekday].astype(str) == "1")
            & (calendar["start_date"].astype(str) <= stamp)
            & (calendar["end_date"].astype(str) >= stamp)
        )
        active |= set(calendar.loc[runs, "service_id"].astype(str))
    if dates is not None and len(dates):
        today = dates.loc[dates["date"].astype(str) == stamp]
        kind = today["exception_type"].astype(str)
        active |= set(today.loc[kind == "1", "service_id"].astype(str))
        active -= set(today.loc[kind == "2", "service_id"].astype(str))
    return active


def feed_info(feed: Path) -> dict[str, str]:
    """The first row of ``feed_info.txt`` (empty when the feed has none)."""
    try:
        with zipfile.ZipFile(feed) as zf:
            if "feed_info.txt" not in zf.namelist():
                return {}
            info = _read(zf, "feed_info.txt")
    except (zipfile.BadZipFile, OSError):
        return {}
    return {k: str(v) for k, v in info.iloc[0].items()} if len(info) else {}


def read_departures(path: Path) -> pd.DataFrame:
    """Read a cached ``departures_per_hour.csv`` with its types."""
    return pd.read_csv(
        path,
        dtype={
            "stop_id": str,
            "stop_name": str,
            "lat": float,
            "lon": float,
            "departures_per_hour": float,
        },
        keep_default_na=False,
        na_values={"lat": [""], "lon": [""]},
    )[DEPARTURE_COLUMNS]


# --------------------------------------------------------------------------------------------


def _read(zf: zipfile.ZipFile, name: str, usecols: list[str] | None = None) -> pd.DataFrame:
    with zf.open(name) as fh:
        return pd.read_csv(
            io.TextIOWrapper(fh, encoding="utf-8-sig"),
            dtype=str,
            usecols=usecols,
            keep_default_na=False,
        )


def _count_departures(
    zf: zipfile.ZipFile, trips: set[str], start_hour: int, end_hour: int
) -> pd.Series:
    with zf.open("stop_times.txt") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig")
        header = text.readline().strip().split(",")
        usecols = ["trip_id", "stop_id", "departure_time"]
        if "pickup_type" in header:
            usecols.append("pickup_type")
        missing = [c for c in usecols if c not in header]
        if missing:
            raise SourceError(SOURCE, f"stop_times.txt lacks {', '.join(missing)}")
        reader = pd.read_csv(
            text,
            names=header,
            usecols=usecols,
            dtype=str,
            keep_default_na=False,
            chunksize=CHUNK_ROWS,
        )
        parts = []
        for chunk in reader:
            chunk = chunk.loc[chunk["trip_id"].isin(trips)]
            if "pickup_type" in chunk.columns:
                chunk = chunk.loc[chunk["pickup_type"] != "1"]  # no boarding here
            hour = pd.to_numeric(chunk["departure_time"].str.split(":").str[0], errors="coerce")
            chunk = chunk.loc[(hour >= start_hour) & (hour < end_hour)]
            parts.append(chunk["stop_id"].value_counts())
    if not parts:
        return pd.Series(dtype=float)
    return pd.concat(parts).groupby(level=0).sum()


def _per_stop_place(stops: pd.DataFrame, counts: pd.Series, hours: int) -> pd.DataFrame:
    places = stop_places(stops)
    per_place = places["stop_id"].map(counts).fillna(0).groupby(places["place"]).sum()
    table = places.drop_duplicates("place").set_index("place")
    table = table.loc[table["lat"].notna() & table["lon"].notna()]
    out = pd.DataFrame(
        {
            "stop_id": table.index.astype(str),
            "stop_name": table["name"].to_numpy(),
            "lat": table["lat"].to_numpy(dtype=float),
            "lon": table["lon"].to_numpy(dtype=float),
            "departures_per_hour": per_place.reindex(table.index).fillna(0).to_numpy(dtype=float)
            / hours,
        }
    )
    return out.sort_values("stop_id").reset_index(drop=True)


def _easter(year: int) -> dt.date:
    # the anonymous Gregorian algorithm (Meeus/Jones/Butcher)
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)
