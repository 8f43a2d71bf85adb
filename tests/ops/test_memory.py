"""The memory guard's decisions (hotline_api.ops.memory), its sizes given by the test; the whole
path — a real process past its limit replaced while the service keeps answering — is in
tests/test_serve.py."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator

import pytest

from hotline_api import background
from hotline_api.ops import memory
from hotline_api.ops.memory import MB, MemoryGuard


def _sizes(*mb: float) -> Iterator[int | None]:
    return iter([int(m * MB) for m in mb])


class Exits:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def test_a_process_past_its_limit_is_ended_once(caplog: pytest.LogCaptureFixture):
    sizes = _sizes(120, 150, 179.9, 180.2, 181, 190)
    exits = Exits()
    guard = MemoryGuard(180, 0.001, exits, read=lambda: next(sizes))
    with caplog.at_level(logging.INFO, logger="hotline_api.ops.memory"):
        await asyncio.wait_for(guard.run(), 5)
    assert exits.count == 1
    assert list(sizes) == [181 * MB, 190 * MB], "the guard read on after it had ended the process"
    reached = [r for r in caplog.records if r.getMessage().startswith("memory limit reached")]
    assert len(reached) == 1 and reached[0].levelno == logging.WARNING
    assert (reached[0].resident_mb, reached[0].limit_mb) == (180.2, 180.0)  # type: ignore[attr-defined]
    assert memory.RESIDENT._value.get() == 180.2 * MB
    assert memory.LIMIT._value.get() == 180 * MB


async def test_a_process_below_its_limit_is_left_alone():
    sizes = _sizes(120, *[121 + i / 10 for i in range(50)])

    def read() -> int | None:
        for size in sizes:
            return size
        raise LookupError("no more sizes")

    exits = Exits()
    guard = MemoryGuard(180, 0.001, exits, read=read)
    with pytest.raises(LookupError):  # read to the end of the sizes, never ending the process
        await asyncio.wait_for(guard.run(), 5)
    assert exits.count == 0


async def test_a_limit_below_the_size_at_start_turns_the_guard_off(caplog: pytest.LogCaptureFixture):
    """Otherwise every new process would be ended at its first check, for ever."""
    sizes = _sizes(130, 200, 300)
    exits = Exits()
    guard = MemoryGuard(100, 0.001, exits, read=lambda: next(sizes))
    with caplog.at_level(logging.INFO, logger="hotline_api.ops.memory"):
        await asyncio.wait_for(guard.run(), 5)
    assert exits.count == 0
    assert list(sizes) == [200 * MB, 300 * MB], "the guard went on reading after it turned itself off"
    (off,) = [r for r in caplog.records if r.getMessage().startswith("memory guard off")]
    assert off.levelno == logging.ERROR and "HOTLINE_MEMORY_LIMIT_MB" in off.getMessage()
    assert (off.resident_mb, off.limit_mb) == (130.0, 100.0)  # type: ignore[attr-defined]
    assert memory.LIMIT._value.get() == 0


async def test_a_moment_without_a_reading_is_skipped():
    sizes = iter([120 * MB, None, None, 185 * MB])
    exits = Exits()
    await asyncio.wait_for(MemoryGuard(180, 0.001, exits, read=lambda: next(sizes)).run(), 5)
    assert exits.count == 1


async def test_the_guard_stops_with_its_block():
    reads = 0

    def read() -> int:
        nonlocal reads
        reads += 1
        return 100 * MB

    async with background.running(MemoryGuard(180, 0.01, Exits(), read=read).run()):
        await asyncio.sleep(0.1)
    seen = reads
    assert seen >= 2
    await asyncio.sleep(0.1)
    assert reads == seen, "the guard kept running after its block"


def test_resident_bytes_is_this_process_vmrss():
    with open(f"/proc/{os.getpid()}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    size = memory.resident_bytes()
    assert size is not None
    assert abs(size - kib * 1024) < 16 * 1024 * 1024  # the same figure, read a moment apart
