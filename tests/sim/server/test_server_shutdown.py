"""Stopping the exchange ends every task before its loop closes."""

from __future__ import annotations

import asyncio

import pytest

from bybitctl.sim import _finish_tasks, running_exchange

pytestmark = pytest.mark.e2e


def test_tasks_still_pending_when_the_loop_stops_are_cancelled_and_awaited():
    """A request handler aiohttp force-closed at shutdown is cancelled, but the cancellation
    only runs on the loop's next turn; closing the loop first leaves the task pending and
    prints "Task was destroyed but it is pending!" when it is collected."""
    loop = asyncio.new_event_loop()
    waiter = loop.create_future()
    task = loop.create_task(asyncio.wait_for(waiter, timeout=None))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert not task.done()
    _finish_tasks(loop)
    loop.close()
    assert task.cancelled()


def test_stopped_exchange_leaves_no_task_behind():
    with running_exchange(faults="slow:200ms") as ex:
        loop = ex._loop
    assert loop.is_closed()
    assert not asyncio.all_tasks(loop)
