"""Social mix: the shares of the neighbourhood that the booklet's "healthy distribution" asks
to keep from piling up.

The booklet ("Gezonde verdeling statushouders", "Gezonde verdeling woonsegmenten") cites
research that concentrations of migrant groups in a neighbourhood hinder socio-cultural
integration, and its fictive case mixes 10 % statushouders, 20 % social and 70 % middle/high
segment homes. Two indicators measure the concentration a new project would add to:

- ``social_pct_migration``: % of residents with a migration background outside Europe. CBS
  2022+ publishes "herkomstland buiten Europa" (``pct_origin_outside_europe``); up to 2021 it
  published "niet-westerse migratieachtergrond" (``pct_non_western``). The newer figure is
  used where there is one. The two definitions differ slightly (e.g. Indonesia and Japan
  were "western") but measure the same concentration for this purpose.
- ``social_pct_corporation``: % of dwellings owned by housing corporations (social rent).

Both come from the CBS 100 m grid around the site (population- or dwelling-weighted, within
``[social] radius_m``) where at least ``min_known_share`` of the residents / dwellings there
have a published figure (CBS suppresses small cells), else from the site's buurt. The
``_source`` columns say which. The concentration penalty itself is a plain criterion
(``mix_migration``, ``mix_housing`` in config/criteria.toml): full score up to ``best``,
falling linearly to 0 at ``worst``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def buurt_migration(buurt: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """% migration background outside Europe per row (2023 definition first) and its source."""
    new = _column(buurt, "pct_origin_outside_europe")
    old = _column(buurt, "pct_non_western")
    value = new.fillna(old)
    source = pd.Series(
        np.where(
            new.notna(),
            "buurt_origin_outside_europe",
            np.where(old.notna(), "buurt_non_western", np.array(None, dtype=object)),
        ),
        index=buurt.index,
        dtype=object,
    )
    return value, source


def social_indicators(
    buurt: pd.DataFrame, grid_shares: pd.DataFrame | None, min_known_share: float
) -> pd.DataFrame:
    """``social_pct_migration``, ``social_pct_corporation`` and their ``_source`` per site.

    Parameters
    ----------
    buurt
        The site's buurt figures (``pct_origin_outside_europe``, ``pct_non_western``,
        ``pct_corporation_rental``; missing columns are null), one row per site.
    grid_shares
        Grid shares around each site as :func:`measure.density.grid_shares_within` returns
        them, or None without a grid.
    min_known_share
        The grid is used where at least this share of the residents (dwellings) around the
        site lie in cells with a published figure.
    """
    migration, migration_source = buurt_migration(buurt)
    corporation = _column(buurt, "pct_corporation_rental")
    corporation_source = pd.Series(
        np.where(corporation.notna(), "buurt", np.array(None, dtype=object)),
        index=buurt.index,
        dtype=object,
    )
    if grid_shares is not None:
        g = grid_shares.set_index(buurt.index)
        use = g["grid_migration_known"].ge(min_known_share) & g["grid_pct_migration"].notna()
        migration = migration.where(~use, g["grid_pct_migration"])
        migration_source = migration_source.where(~use, "grid")
        use = g["grid_corporation_known"].ge(min_known_share) & g["grid_pct_corporation"].notna()
        corporation = corporation.where(~use, g["grid_pct_corporation"])
        corporation_source = corporation_source.where(~use, "grid")
    return pd.DataFrame(
        {
            "social_pct_migration": migration.astype("float64"),
            "social_pct_migration_source": migration_source,
            "social_pct_corporation": corporation.astype("float64"),
            "social_pct_corporation_source": corporation_source,
        },
        index=buurt.index,
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return pd.Series(np.nan, index=frame.index, dtype="float64")
