"""The Prefect flows under Prefect's test harness (temporary server and PREFECT_HOME):
the flows wrap the library's national orchestrator (result cache, failure isolation), the
nightly flow, `serve`.

Data: the real Delft sample split into pseudo-municipalities (see test_national.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

prefect = pytest.importorskip("prefect")

from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: E402
from prefect.settings import PREFECT_API_URL  # noqa: E402

from magicmix_geo.cache import ResultCache  # noqa: E402
from magicmix_geo.cli import main  # noqa: E402
from tests._prefect import prefect_server  # noqa: E402
from tests.test_national import make_split_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary Prefect server and PREFECT_HOME (results, storage) for this module."""
    with prefect_server(tmp_path_factory.mktemp("prefect_home")) as home:
        yield home


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_split_dataset(tmp_path_factory.mktemp("flows_data"))


def task_states(flow_run_id: Any) -> dict[str, str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {run.name.rsplit("-", 1)[0]: run.state.name for run in runs}


def statuses(out: Path) -> dict[str, str]:
    summary = json.loads((out / "manifest.json").read_text())["run_summary"]
    return {m["gm_code"]: m["status"] for m in summary["municipalities"]}


@pytest.mark.timeout(300)
def test_national_flow_caches_unchanged_municipalities(harness: Path, data: Path) -> None:
    from flows.national import MunicipalitiesFailedError, national

    cache = str(data.parent / "cache")
    out = data.parent / "out"
    # the ranking runs on a local Dask cluster of two processes, the Prefect tasks wait for it
    params = {"areas_file": str(data), "out": str(out), "cache_dir": cache, "workers": 2}

    clock = time.perf_counter()
    state = national(**params, return_state=True)
    first = time.perf_counter() - clock
    assert state.is_failed()  # GM9903 has no boundary file ...
    with pytest.raises(MunicipalitiesFailedError, match=r"GM9903: .*no_such_boundary\.gpkg"):
        state.result()
    # ... and the others are published all the same
    assert statuses(out) == {"GM9901": "done", "GM9902": "done", "GM9903": "failed"}
    assert (out / "national_ranking.csv").is_file()
    # the flow wraps the library's one orchestrator: a task lists, a task ranks and publishes
    assert task_states(state.state_details.flow_run_id) == {
        "list_areas": "Completed",
        "rank_and_publish": "Completed",
    }

    clock = time.perf_counter()
    state = national(**params, return_state=True)
    again = time.perf_counter() - clock
    # the library's result cache: nothing recomputed, the outputs already up to date
    with pytest.raises(MunicipalitiesFailedError):
        state.result()
    assert statuses(out) == {"GM9901": "done", "GM9902": "done", "GM9903": "failed"}
    assert again < first / 2, (first, again)

    # a result removed from the cache is recomputed, the other stays cached
    ResultCache(Path(cache)).path_for(_key_of(out, "GM9901")).unlink()
    out2 = data.parent / "out2"
    national(**{**params, "out": str(out2), "workers": 0}, return_state=True)
    summary = json.loads((out2 / "manifest.json").read_text())["run_summary"]
    rows = {m["gm_code"]: m["status"] for m in summary["municipalities"]}
    assert rows == {"GM9901": "done", "GM9902": "cached", "GM9903": "failed"}
    print(f"national flow: first {first:.1f} s, re-run {again:.1f} s, ratio {again / first:.3f}")


def _key_of(out: Path, gm_code: str) -> str:
    summary = json.loads((out / "manifest.json").read_text())["run_summary"]
    return str(summary["result_keys"][gm_code])


@pytest.mark.timeout(300)
def test_nightly_flow_without_acquisition_for_an_areas_file(harness: Path, data: Path) -> None:
    from flows.nightly import nightly

    out = data.parent / "nightly_out"
    summary = nightly(
        areas_file=str(data),
        areas=["GM9901", "GM9902"],
        out=str(out),
        cache_dir=str(data.parent / "cache"),
        workers=0,
    )
    assert summary["counts"]["failed"] == 0
    assert set(statuses(out)) == {"GM9901", "GM9902"}
    assert summary["up_to_date"] or summary["published"]


@pytest.mark.timeout(300)
def test_serve_registers_the_nightly_cron_schedule(harness: Path, data: Path) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(harness),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = (data.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "magicmix_geo.cli",
            "serve",
            "--cron",
            "0 2 * * *",
            "--areas-file",
            str(data),
            "--workers",
            "2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deployment = None
        deadline = time.monotonic() + 120
        with get_client(sync_client=True) as client:
            while deployment is None and time.monotonic() < deadline:
                assert process.poll() is None, (data.parent / "serve.log").read_text()
                try:
                    deployment = client.read_deployment_by_name("magicmix-nightly/nightly")
                except Exception:  # not registered yet
                    time.sleep(1)
        assert deployment is not None, (data.parent / "serve.log").read_text()
        (schedule,) = deployment.schedules
        assert schedule.schedule.cron == "0 2 * * *"
        assert schedule.schedule.timezone == "Europe/Amsterdam"
        assert schedule.active
        assert deployment.parameters["areas_file"] == str(data.resolve())
        assert deployment.parameters["workers"] == 2
    finally:
        if process.poll() is None:
            os.killpg(os.getpgid(process.pid), signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
                process.wait(timeout=30)
        log.close()


def test_serve_needs_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # no profile that names a server
    assert main(["serve"]) == 2
    assert "prefect server start" in capfd.readouterr().err
