"""`SingleFlight`: concurrent calls of one key share one call; nothing is cached after it."""

from __future__ import annotations

import asyncio

import pytest

from shared.batching import SingleFlight


async def test_concurrent_calls_of_one_key_share_one_call_and_the_next_calls_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def make() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiting = [asyncio.create_task(flight.run("a", make)) for _ in range(5)]
    other = asyncio.create_task(flight.run("b", make))
    await asyncio.sleep(0)
    gate.set()
    shared = await asyncio.gather(*waiting)
    assert len(set(shared)) == 1  # the five callers of "a" got the one call's answer
    assert {shared[0], await other} == {1, 2}
    assert calls == 2  # one per key
    assert await flight.run("a", make) == 3  # ended: called again


async def test_an_error_reaches_every_caller_and_a_cancelled_caller_cancels_nothing() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def fails() -> int:
        await gate.wait()
        raise RuntimeError("down")

    first = asyncio.create_task(flight.run("a", fails))
    second = asyncio.create_task(flight.run("a", fails))
    third = asyncio.create_task(flight.run("a", fails))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    for task in (second, third):
        with pytest.raises(RuntimeError, match="down"):
            await task
    with pytest.raises(asyncio.CancelledError):
        await first
