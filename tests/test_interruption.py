"""kill -9 at many points of a run: no partial output is ever visible, and the re-run completes
with results identical to an uninterrupted run (two runs are deterministic)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

KILLS = 10
VOLATILE_MANIFEST_KEYS = {"run_id", "started_at", "ended_at"}


def _command(out: Path) -> list[str]:
    exe = Path(sys.executable).with_name("magicmix-geo")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "magicmix_geo.cli"]
    # --no-cache: every run really computes, so kills land in every stage
    return [*base, "run", "--no-cache", "--out", str(out)]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "MAGICMIX_CACHE_DIR": str(cache)}


def _complete(run: Path) -> bool:
    names = {
        "GM0503_Delft.gpkg",
        "manifest.json",
        "national_ranking.csv",
        "national_ranking.gpkg",
        "national_ranking.xlsx",
    }
    return names <= {p.name for p in run.iterdir()} and (run / "maps" / "GM0503.png").is_file()


def _content(run: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    sites = gpd.read_file(run / "GM0503_Delft.gpkg", layer="sites", engine="pyogrio")
    sites = sites.sort_values("site_id").reset_index(drop=True)
    sites["wkb"] = sites.geometry.to_wkb()
    table = pd.DataFrame(sites.drop(columns="geometry"))
    national = pd.read_csv(run / "national_ranking.csv")
    manifest = json.loads((run / "manifest.json").read_text())
    for key in VOLATILE_MANIFEST_KEYS:
        manifest.pop(key, None)
    for item in manifest.get("municipalities", []):
        item.pop("timings_s", None)
    return table, national, manifest


def _same(a: tuple, b: tuple) -> None:
    pd.testing.assert_frame_equal(a[0], b[0], check_exact=True)
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)
    assert a[2] == b[2]


def test_kill_9_at_many_points_then_rerun(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    reference = tmp_path / "reference" / "out"
    start = time.monotonic()
    subprocess.run(_command(reference), env=_env(cache), check=True, capture_output=True)
    duration = time.monotonic() - start
    expected = _content(reference)

    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    outcomes = []
    for delay in np.linspace(0.4, duration * 0.97, KILLS):
        proc = subprocess.Popen(
            _command(out),
            env=_env(cache),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stage = (proc.stderr.read().decode().strip().splitlines() or ["(before any message)"])[-1]
        proc.stderr.close()
        visible = [p.name for p in work.iterdir() if not p.name.startswith(".")]
        assert visible in ([], ["out"]), visible
        if out.exists():
            assert _complete(out), f"incomplete run folder visible after kill at {delay:.1f} s"
        outcomes.append((round(float(delay), 1), stage, out.exists()))

    # the re-run cleans what the killed runs left and yields the same results
    subprocess.run(_command(out), env=_env(cache), check=True, capture_output=True)
    assert [p.name for p in work.iterdir()] == ["out"], list(work.iterdir())
    _same(_content(out), expected)
    print("\nkill points (s, last message, run folder present):")
    for row in outcomes:
        print("  ", row)
    stages = {stage for _, stage, _ in outcomes}
    assert len(stages) >= 3, f"kills did not spread over the stages: {stages}"


def test_sigterm_while_publishing_removes_the_hidden_folder(tmp_path: Path) -> None:
    """SIGTERM (kill, a scheduler stopping the job) cleans up like Ctrl-C (issue #16)."""
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    with subprocess.Popen(
        _command(out),
        env=_env(tmp_path / "cache"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stderr is not None
        # wait until the run folder is being written (the hidden .partial sibling exists)
        deadline = time.monotonic() + 600
        while not any(p.name.endswith(".partial") for p in work.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never started publishing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        err = proc.stderr.read().decode()
    assert code == 1, err
    assert "interrupted; no output was written" in err and "Traceback" not in err
    assert list(work.iterdir()) == []  # no .partial, no .old, no half run folder
