"""Configuration: defaults load, user files layer over them, mistakes name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicmix_geo._errors import ConfigError
from magicmix_geo.config import REQUIRED_CATEGORIES, load_settings


def test_defaults_have_every_category_and_two_profiles() -> None:
    settings = load_settings()
    assert set(REQUIRED_CATEGORIES) <= set(settings.categories)
    assert {"singles", "families"} <= set(settings.profiles)
    for profile in settings.profiles:
        assert sum(settings.weights(profile).values()) == pytest.approx(1.0)


def test_walk_filter_is_osmnx_walk_filter() -> None:
    from osmnx import _overpass

    assert load_settings().walk.way_filter == _overpass._get_network_filter("walk")


def test_user_file_overrides_and_changes_hash(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[exclusions]\nindustrial_within_m = 400\n[profiles.singles]\ntransit = 9.0\n")
    base = load_settings()
    settings = load_settings(user)
    assert settings.exclusions.industrial_within_m == 400
    assert settings.profiles["singles"]["transit"] == 9.0
    assert settings.hash != base.hash


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[exclusions]\nindustial_within_m = 400\n", "exclusions.industial_within_m"),
        ("[criteria.transit]\nbest = 'near'\n", "criteria.transit.best"),
        ("[profiles.singles]\ntransit = -1\n", "profiles.singles.transit"),
        ("[profiles.singles]\nteleport = 1\n", "profiles.singles.teleport"),
        ("[criteria.transit]\nbest = 2000\n", "criteria.transit"),
        ("[walk]\nway_filter = 'highway'\n", "walk.way_filter"),
        ("[categories.park]\nmatch = ['=x']\n", "categories.park.match"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_bad_user_config_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    user = tmp_path / "bad.toml"
    user.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(user)
    assert needle in str(info.value)
    assert str(user) in str(info.value)


def test_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'students'"):
        load_settings().weights("students")
