"""Giving the C heap's free pages back (hotline_api.memory): with real glibc memory in this process."""

from __future__ import annotations

import asyncio
import ctypes
import sys

import pytest

from hotline_api import memory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not memory.available(), reason="glibc's malloc_trim"
)

LIBC = ctypes.CDLL("libc.so.6")
LIBC.malloc.restype = ctypes.c_void_p
LIBC.malloc.argtypes = [ctypes.c_size_t]
LIBC.free.argtypes = [ctypes.c_void_p]


def rss_anon_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_free_memory_under_a_block_in_use_is_given_back() -> None:
    # 32 MiB in 2 KiB blocks (below glibc's mmap threshold: they come from the heap), each written
    # so that its pages are resident, then one more block that stays in use above them all
    blocks = [LIBC.malloc(2048) for _ in range(16384)]
    for b in blocks:
        ctypes.memset(b, 1, 2048)
    pin = LIBC.malloc(2048)
    try:
        for b in blocks:
            LIBC.free(b)
        kept = rss_anon_kib()  # freed, but under `pin`: the heap cannot shrink from its top
        assert memory.trim() is True
        given_back = kept - rss_anon_kib()
        assert given_back > 16 * 1024, f"only {given_back} KiB given back"
    finally:
        LIBC.free(pin)


async def test_trimming_runs_at_its_interval_and_stops() -> None:
    before = memory.MEMORY_TRIMS._value.get()
    async with memory.trimming(0.05):
        await asyncio.sleep(0.4)
    done = memory.MEMORY_TRIMS._value.get() - before
    assert 3 <= done <= 9, done
    await asyncio.sleep(0.2)
    assert memory.MEMORY_TRIMS._value.get() - before == done  # stopped with its block
    async with memory.trimming(0):  # 0: never
        await asyncio.sleep(0.1)
    assert memory.MEMORY_TRIMS._value.get() - before == done
