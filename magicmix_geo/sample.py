"""The bundled real sample (``data/sample/``) as pipeline inputs."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from magicmix_geo._errors import InputError
from magicmix_geo.contract import INPUT_KEYS, RankInputs

# data/sample/ of the checkout, installed as the package data magicmix_geo._sample
SAMPLE_DIR = Path(str(resources.files("magicmix_geo._sample")))
# relative to the working folder, like every other default output
SAMPLE_OUT = Path("outputs") / "sample"


def sample_inputs(sample_dir: Path = SAMPLE_DIR) -> RankInputs:
    """Read ``sample.toml`` in ``sample_dir`` into the inputs of one municipality run."""
    spec_path = sample_dir / "sample.toml"
    if not spec_path.is_file():
        raise InputError(f"{spec_path}: sample description not found")
    with spec_path.open("rb") as fh:
        spec = tomllib.load(fh)
    known = INPUT_KEYS | {"config"}
    unknown = set(spec) - known
    if unknown:
        raise InputError(f"{spec_path}: unknown key(s) {', '.join(sorted(unknown))}")

    def path(key: str) -> Path | None:
        return sample_dir / spec[key] if key in spec else None

    osm = path("osm")
    if osm is None or "gm_code" not in spec:
        raise InputError(f"{spec_path}: 'osm' and 'gm_code' are required")
    return RankInputs(
        osm=osm,
        gm_code=spec["gm_code"],
        boundary=path("boundary"),
        boundary_source="cbs",  # the study area is cut from CBS data (data/sample/README.md)
        cbs=tuple(sample_dir / name for name in spec.get("cbs", [])),
        grid=path("grid"),
        candidates=path("candidates"),
        bag=path("bag"),
        profile=spec.get("profile", "singles"),
        plans=path("plans"),
    )


def sample_config(sample_dir: Path = SAMPLE_DIR) -> Path | None:
    """The sample's own settings (``config`` in ``sample.toml``, e.g. the plans file's
    columns), layered over config/ before a user's ``--config``."""
    with (sample_dir / "sample.toml").open("rb") as fh:
        spec = tomllib.load(fh)
    return sample_dir / spec["config"] if "config" in spec else None
