"""Dask clients, in one place: a LocalCluster of worker processes, or an existing scheduler.

The library runs without Dask when asked for no workers; :mod:`magicmix_geo.national` and
:mod:`magicmix_geo.measure.parallel` take their clients from here, ``flows/`` too.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from magicmix_geo._errors import InputError

if TYPE_CHECKING:
    from distributed import Client

# Dask's comm schemes (distributed.comm.registry); an address is <scheme>://host:port
DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
DASK_CONNECT_TIMEOUT = "20s"
_CLIENTS: dict[str, Client] = {}
_CLIENTS_LOCK = threading.Lock()


@contextlib.contextmanager
def dask_client(workers: int | None = None, address: str | None = None) -> Iterator[Client]:
    """A Dask client: on the scheduler at ``address``, or on a new LocalCluster.

    The LocalCluster has ``workers`` single-threaded processes (default: the machine's cores;
    the geometry work holds the GIL) on 127.0.0.1, its dashboard on a free port; it is closed
    on exit. A client to an existing cluster only disconnects; a scheduler that cannot be
    reached is an InputError. The client is registered under its scheduler address for
    :func:`client_for` while it is open.
    """
    from distributed import Client, LocalCluster

    if address:
        check_dask_address(address)
        try:
            client = Client(address, set_as_default=False, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--dask-address {address}: cannot connect ({exc})") from exc
        with _registered(client):
            try:
                yield client
            finally:
                client.close()
        return
    n = int(workers) if workers else (os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            host="127.0.0.1",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
        _registered(client),
    ):
        yield client


@contextlib.contextmanager
def optional_client(workers: int | None, address: str | None) -> Iterator[Client | None]:
    """:func:`dask_client`, or None (work in this process) when neither ``workers`` nor
    ``address`` is given."""
    if not address and not workers:
        yield None
        return
    with dask_client(workers, address) as client:
        yield client


def check_dask_address(address: str) -> None:
    """Refuse at once an address Dask could not use (``tcp://127.0.0.1:notaport``): Dask
    itself would try for a minute and then fail with a traceback.

    Raises
    ------
    InputError
        The address is not ``<scheme>://host:port`` with a known scheme and a port number.
    """
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    if not (
        sep
        and scheme in DASK_SCHEMES
        and host
        and colon
        and port.isdigit()
        and 0 < int(port) < 65536
    ):
        raise InputError(
            f"--dask-address {address!r}: not a Dask scheduler address; expected "
            "tcp://HOST:PORT with a port number (e.g. tcp://127.0.0.1:8786)"
        )


def client_for(address: str) -> Client:
    """The client this process already holds for ``address``, or a new one kept for later."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(address)
        if client is None:
            from distributed import Client

            client = _CLIENTS[address] = Client(address, timeout="20s", set_as_default=False)
        return client


def describe_executor(client: Client | None, address: str | None) -> str:
    """``in-process``, ``dask LocalCluster (2 workers)`` or ``dask scheduler ADDR (n workers)``."""
    if client is None:
        return "in-process"
    n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
    where = f"dask scheduler {address}" if address else "dask LocalCluster"
    return f"{where} ({n} worker{'s' if n != 1 else ''})"


def default_workers(n_tasks: int) -> int:
    """One worker process per CPU, at most one per task; 0 (in-process) for one task."""
    n = min(os.cpu_count() or 1, n_tasks)
    return 0 if n <= 1 else n


@contextlib.contextmanager
def _registered(client: Client) -> Iterator[None]:
    key = str(getattr(client.scheduler, "address", ""))
    with _CLIENTS_LOCK:
        _CLIENTS[key] = client
    try:
        yield
    finally:
        with _CLIENTS_LOCK:
            _CLIENTS.pop(key, None)
