"""Keeping ``report_call_days`` at most one refresh interval behind the records.

Each refresh recomputes, from the calls and their contact records, the recent local days (today and
the two before: where nearly every change happens) and every day the triggers of migration 0012 have
marked (an old call corrected by a late event, a contact record written or changed), each day in
one statement. One process refreshes at a time (an advisory lock), whatever the number of service
processes. A summary over twenty years then reads some 40,000 rollup rows instead of ten million
calls; the figures are as of the last refresh, which every report states.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline_api import background

logger = logging.getLogger(__name__)
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
RECENT_DAYS = 3  # today and the two days before (and tomorrow), recomputed every time
REFRESH_SECONDS = 20.0  # figures at most this (plus one refresh) behind the records
_LOCK = 0x48_4C_52_50  # "HLRP"

RECOMPUTE = """
INSERT INTO report_call_days (day, switchboard_code, dialled_number, calls, answered, abandoned, timeout,
    not_queued, failed, in_progress, answered_in_time, abandoned_in_time, wait_sum, talk_sum, records, related)
SELECT (c.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, c.switchboard_code, COALESCE(c.dialled_number, ''),
    count(*),
    count(*) FILTER (WHERE c.outcome = 'answered'),
    count(*) FILTER (WHERE c.outcome = 'abandoned'),
    count(*) FILTER (WHERE c.outcome = 'timeout'),
    count(*) FILTER (WHERE c.outcome = 'not_queued'),
    count(*) FILTER (WHERE c.outcome = 'failed'),
    count(*) FILTER (WHERE c.outcome = 'in_progress'),
    count(*) FILTER (WHERE c.outcome = 'answered' AND c.wait_seconds <= 20),
    count(*) FILTER (WHERE c.outcome = 'abandoned' AND c.wait_seconds <= 20),
    COALESCE(sum(c.wait_seconds) FILTER (WHERE c.outcome IN ('answered', 'abandoned', 'timeout')), 0),
    COALESCE(sum(c.talk_seconds) FILTER (WHERE c.outcome = 'answered'), 0),
    count(r.id),
    count(r.id) FILTER (WHERE r.trafficking_related)
FROM calls c LEFT JOIN contact_records r ON r.call_id = c.id
WHERE c.started_at >= :since AND c.started_at < :until
  AND (c.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date = ANY(CAST(:days AS date[]))
GROUP BY 1, 2, 3
"""


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL).date()


def _bounds(days: list[date]) -> tuple[datetime, datetime]:
    lo, hi = min(days), max(days)
    return (
        datetime.combine(lo, datetime.min.time(), LOCAL),
        datetime.combine(hi + timedelta(days=1), datetime.min.time(), LOCAL),
    )


async def recompute(session: AsyncSession, days: Iterable[date]) -> int:
    """Recompute the rollup of these days (in runs of consecutive days); how many days."""
    todo = sorted(set(days))
    if not todo:
        return 0
    # close days together in one statement: the started_at range keeps it on the index
    runs: list[list[date]] = [[todo[0]]]
    for d in todo[1:]:
        if (d - runs[-1][-1]).days <= 7 and len(runs[-1]) < 92:
            runs[-1].append(d)
        else:
            runs.append([d])
    for run in runs:
        since, until = _bounds(run)
        await session.execute(
            text("DELETE FROM report_call_days WHERE day = ANY(CAST(:days AS date[]))"), {"days": run}
        )
        await session.execute(text(RECOMPUTE), {"days": run, "since": since, "until": until})
    return len(todo)


async def refresh(session: AsyncSession, now: datetime | None = None) -> int | None:
    """One refresh, in the session's transaction; None when another process holds the lock."""
    now = now or datetime.now(UTC)
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK})
    if not got:
        return None
    today = local_today(now)
    marked = (await session.execute(text("DELETE FROM report_dirty_days RETURNING day"))).scalars().all()
    days = {today - timedelta(days=i) for i in range(-1, RECENT_DAYS)} | set(marked)
    n = await recompute(session, days)
    await session.execute(
        text(
            "UPDATE report_rollup_state SET refreshed_at = :now, days_refreshed = days_refreshed + :n, "
            "updated_at = now() WHERE name = 'calls'"
        ),
        {"now": now, "n": n},
    )
    return n


async def rebuild(session: AsyncSession) -> int:
    """Every day that has calls (after a restore, or to build the rollup the first time)."""
    days = (
        (
            await session.execute(
                text(
                    "SELECT DISTINCT (started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date FROM calls WHERE started_at IS NOT NULL"
                )
            )
        )
        .scalars()
        .all()
    )
    await session.execute(text("DELETE FROM report_call_days"))
    return await recompute(session, days)


async def refreshed_at(session: AsyncSession) -> datetime | None:
    value = await session.scalar(text("SELECT refreshed_at FROM report_rollup_state WHERE name = 'calls'"))
    return value if isinstance(value, datetime) else None


def running(
    sessionmaker: async_sessionmaker[AsyncSession], interval: float = REFRESH_SECONDS
) -> contextlib.AbstractAsyncContextManager[None]:
    """The refresher, for the life of a service process."""

    async def loop() -> None:
        while True:
            try:
                async with sessionmaker() as session:
                    await refresh(session)
                    await session.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: try again at the next tick
                logger.warning("report rollup refresh failed: %s", type(exc).__name__)
            await asyncio.sleep(interval)

    return background.running(loop())
