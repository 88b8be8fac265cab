"""`magicmix-geo national --dask-address` on a real Dask cluster: `dask scheduler` and two
`dask worker` processes on 127.0.0.1 (free ports), always torn down.

Data: the real Delft sample split into two pseudo-municipalities (see test_national.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import pandas as pd
import pytest

from magicmix_geo.cli import main
from tests.test_national import make_split_dataset, sites_of

DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL: the whole process group, so a worker's nanny child goes too."""
    if process.poll() is None:
        with_group = os.getpgid(process.pid)
        os.killpg(with_group, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(with_group, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and two single-threaded workers as separate processes; yields the address."""
    # the dask CLI comes with the project's dependencies: its absence is a broken install
    assert DASK.is_file(), f"{DASK} not installed (pip install -e .)"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    files = contextlib.ExitStack()
    try:
        processes.append(
            subprocess.Popen(
                [
                    str(DASK),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=files.enter_context((logs / "scheduler.log").open("wb")),
                start_new_session=True,
            )
        )
        for i in range(2):
            processes.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=files.enter_context((logs / f"worker{i}.log").open("wb")),
                    start_new_session=True,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for process in reversed(processes):
            stop(process)
        files.close()


@pytest.mark.timeout(300)
def test_national_on_an_existing_dask_cluster(
    dask_cluster: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    areas = make_split_dataset(tmp_path / "data", broken=False)
    out = tmp_path / "national"
    command = [
        "national",
        "--areas-file",
        str(areas),
        "--areas",
        "GM9901,GM9902",
        "--dask-address",
        dask_cluster,
        "--out",
        str(out),
    ]
    clock = time.perf_counter()
    assert main(command) == 0
    first = time.perf_counter() - clock
    err = capsys.readouterr().err
    assert f"dask scheduler {dask_cluster} (2 workers)" in err
    summary = json.loads((out / "manifest.json").read_text())["run_summary"]
    rows = {m["gm_code"]: m for m in summary["municipalities"]}
    assert {c: r["status"] for c, r in rows.items()} == {"GM9901": "done", "GM9902": "done"}
    # the work ran in the worker processes, not here
    pids = {int(r["where"].rsplit(":", 1)[1]) for r in rows.values()}
    assert os.getpid() not in pids
    ranking = pd.read_csv(out / "national_ranking.csv")
    assert set(ranking["gm_code"]) == {"GM9901", "GM9902"}
    assert ranking["rank_nl"].notna().any()

    # again, to a new folder: both from the cache, nothing sent to the cluster
    clock = time.perf_counter()
    assert main([*command[:-1], str(tmp_path / "again")]) == 0
    again = time.perf_counter() - clock
    assert "nothing to rank; 2 unchanged" in capsys.readouterr().err
    for code in ("GM9901", "GM9902"):
        pd.testing.assert_frame_equal(sites_of(tmp_path / "again", code), sites_of(out, code))
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "again" / "national_ranking.csv"), ranking, check_exact=True
    )
    print(f"national on dask scheduler: first {first:.1f} s, re-run {again:.1f} s")


@pytest.mark.timeout(120)
def test_national_reports_an_unreachable_scheduler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    areas = make_split_dataset(tmp_path / "data", broken=False)
    address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(
            [
                "national",
                "--areas-file",
                str(areas),
                "--all",
                "--dask-address",
                address,
                "--out",
                str(tmp_path / "out"),
            ]
        )
    assert code == 2
    assert f"--dask-address {address}: cannot connect" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
