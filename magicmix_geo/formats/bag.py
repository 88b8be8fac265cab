"""BAG rules: which panden are new build, residential or out of use, and which have ended.

Pure functions on frames of BAG panden and verblijfsobjecten, as PDOK's OGC API v2 pages and
its bag-light.gpkg give them (see docs/sources.md, "BAG"). Shared by the acquisition, which
writes flagged per-area files, and the preparation of candidates.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd

# BAG pand status of a project that is coming: permit granted, construction started
NEW_BUILD_STATUS = frozenset({"Bouwvergunning verleend", "Bouw gestart"})
# BAG status of a building / unit out of use
OUT_OF_USE_PAND = frozenset({"Pand buiten gebruik"})
OUT_OF_USE_VBO = frozenset({"Verblijfsobject buiten gebruik"})
# a pand whose units are all out of use counts as vacant only if it has at least one unit
RESIDENTIAL_USE = "woonfunctie"
# BAG statuses that end an object's life (Catalogus BAG 2018; imbag.github.io praktijkhandleiding
# "Welke statussen kent de BAG"): such objects are no buildings / units any more
ENDED_PAND = frozenset({"Pand gesloopt", "Niet gerealiseerd pand", "Pand ten onrechte opgevoerd"})
ENDED_VBO = frozenset(
    {
        "Verblijfsobject ingetrokken",
        "Niet gerealiseerd verblijfsobject",
        "Verblijfsobject ten onrechte opgevoerd",
    }
)


def drop_ended(frame: gpd.GeoDataFrame, ended: frozenset[str]) -> gpd.GeoDataFrame:
    """The BAG objects of ``frame`` whose ``status`` is not one of ``ended``."""
    if "status" not in frame.columns or frame.empty:
        return frame
    keep = ~frame["status"].fillna("").astype(str).str.strip().isin(ended)
    return frame.loc[keep.to_numpy()].reset_index(drop=True)


def pand_keys(verblijfsobjecten: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """Each verblijfsobject's pand references and the pand column they refer to.

    The PDOK BAG OGC API v2 links a verblijfsobject to its pand(en) by ``pand.href``, URLs
    ending in the pand's feature id (a UUID; matched to the pand's ``id``); bag-light.gpkg
    and the older API carry ``pand_identificatie`` (the BAG identificatie; matched to the
    pand's ``identificatie``). Several references are comma-separated. Returns one row per
    (verblijfsobject, pand) pair, indexed like ``verblijfsobjecten``, or None without either.
    """
    href = next((c for c in ("pand.href", "pand") if c in verblijfsobjecten.columns), None)
    if href is not None:
        refs = verblijfsobjecten[href].astype(str).str.split(",").explode().str.strip()
        keys = refs.map(lambda h: urlsplit(h).path.rstrip("/").rsplit("/", 1)[-1])
        return keys.loc[refs.ne("") & refs.ne("None") & refs.ne("nan")], "id"
    if "pand_identificatie" in verblijfsobjecten.columns:
        refs = verblijfsobjecten["pand_identificatie"].astype(str).str.split(",").explode()
        refs = refs.str.strip()
        return refs.loc[refs.ne("") & refs.ne("None") & refs.ne("nan")], "identificatie"
    return None


def flag_panden(
    panden: gpd.GeoDataFrame, verblijfsobjecten: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Add ``new_build``, ``vacant_non_residential`` and ``residential`` to BAG panden.

    - ``new_build``: status "Bouwvergunning verleend" or "Bouw gestart" (a project coming).
    - ``residential``: a ``woonfunctie`` among the pand's gebruiksdoelen.
    - ``vacant_non_residential``: not residential, and the pand is "Pand buiten gebruik" or
      all its verblijfsobjecten are "Verblijfsobject buiten gebruik": a building that could
      be transformed. BAG "buiten gebruik" is a registration status, not a vacancy survey.

    Panden and verblijfsobjecten whose life has ended (:data:`ENDED_PAND`,
    :data:`ENDED_VBO`) are dropped first. A pand without a ``gebruiksdoel`` property gets
    one from its verblijfsobjecten, joined by ``pand.href`` (API v2) or
    ``pand_identificatie`` (bag-light), see :func:`pand_keys`.
    """
    out = drop_ended(panden.copy(), ENDED_PAND)
    vbo = drop_ended(verblijfsobjecten, ENDED_VBO) if verblijfsobjecten is not None else None
    vbo_out = pd.Series(False, index=out.index)
    joined = pand_keys(vbo) if vbo is not None and len(vbo) else None
    if vbo is not None and joined is not None:
        keys, pand_col = joined
        if pand_col not in out.columns:
            pand_col = "id" if "id" in out.columns else "identificatie"
        per_pand = vbo.loc[keys.index].assign(pand=keys.to_numpy())
        own = out[pand_col].astype(str)
        if "gebruiksdoel" not in out.columns and "gebruiksdoel" in per_pand.columns:
            doel = per_pand.groupby("pand")["gebruiksdoel"].agg(
                lambda s: ", ".join(
                    sorted({p.strip() for v in s.dropna() for p in str(v).split(",") if p.strip()})
                )
            )
            out["gebruiksdoel"] = own.map(doel)
        if "status" in per_pand.columns:
            all_out = per_pand.groupby("pand")["status"].agg(
                lambda s: bool(len(s)) and s.isin(OUT_OF_USE_VBO).all()
            )
            vbo_out = own.map(all_out).fillna(False).astype(bool)
    status = (
        out["status"].fillna("").astype(str)
        if "status" in out.columns
        else pd.Series("", index=out.index)
    )
    doel = (
        out["gebruiksdoel"].fillna("").astype(str)
        if "gebruiksdoel" in out.columns
        else pd.Series("", index=out.index)
    )
    out["residential"] = doel.str.contains(RESIDENTIAL_USE).to_numpy(dtype=bool)
    out["new_build"] = status.isin(NEW_BUILD_STATUS).to_numpy(dtype=bool)
    out_of_use = status.isin(OUT_OF_USE_PAND).to_numpy(dtype=bool) | vbo_out.to_numpy(dtype=bool)
    out["vacant_non_residential"] = out_of_use & ~out["residential"].to_numpy(dtype=bool)
    return out
