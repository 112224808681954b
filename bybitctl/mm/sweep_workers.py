"""Where a sweep's tasks run: this process, local worker processes, or a Dask cluster.

Each runner takes the tasks and yields `(task, rows)` as each finishes, in the order they
finish, so results stream out and a failure is one task's rows, not the sweep's: a task
that raised (or whose worker died) comes back as error rows for its configurations.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from bybitctl.errors import NetworkError, UsageError
from bybitctl.mm.sweep import SweepTask, describe, failed_row, run_task

Finished = tuple[SweepTask, list[dict[str, Any]]]


def failed(task: SweepTask, exc: BaseException) -> list[dict[str, Any]]:
    """The rows of a task that could not run: each of its configurations with the error."""
    return [failed_row(point, describe(exc)) for point in task.points]


def run_here(tasks: Sequence[SweepTask]) -> Iterator[Finished]:
    """Run the tasks one after the other in this process."""
    for task in tasks:
        try:
            rows = run_task(task)
        except Exception as exc:
            rows = failed(task, exc)
        yield task, rows


def run_local(tasks: Sequence[SweepTask], workers: int) -> Iterator[Finished]:
    """Run the tasks on `workers` local processes (started fresh, not forked: nothing of
    this process's state leaks into them)."""
    if workers <= 1 or len(tasks) <= 1:
        yield from run_here(tasks)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        futures: dict[Future[list[dict[str, Any]]], SweepTask] = {
            pool.submit(run_task, task): task for task in tasks
        }
        for future in as_completed(futures):
            task = futures[future]
            try:
                rows = future.result()
            except Exception as exc:  # the worker died, or the task could not be sent
                rows = failed(task, exc)
            yield task, rows


def connect(address: str, timeout: float = 10.0) -> Any:
    """A Dask distributed client of the scheduler at `address` (tcp://HOST:PORT)."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(
            "--scheduler needs Dask distributed",
            hint="install it with: pip install 'bybitctl[cluster]'",
        ) from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise NetworkError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def cluster_workers(client: Any) -> int:
    """How many worker threads the cluster offers (at least 1)."""
    info = client.scheduler_info()
    return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))


def run_dask(tasks: Sequence[SweepTask], client: Any) -> Iterator[Finished]:
    """Run the tasks on a Dask cluster, each as one Dask task (`run_task` is imported by
    the workers, which need bybitctl installed and the data paths readable)."""
    from distributed import as_completed as dask_completed

    futures = {}
    for n, task in enumerate(tasks):
        future = client.submit(run_task, task, pure=False, key=f"bybitctl-sweep-{n}-{id(task)}")
        futures[future.key] = (future, task)
    try:
        for future in dask_completed([f for f, _ in futures.values()]):
            task = futures[future.key][1]
            try:
                rows = future.result()
            except Exception as exc:
                rows = failed(task, exc)
            yield task, rows
    finally:
        for future, _ in futures.values():
            future.release()
