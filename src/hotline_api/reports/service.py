# ruff: noqa: S608
"""The figures of PRODUCT.md §5, computed in PostgreSQL.

The SQL is assembled from the constant fragments below only; every value is a bound parameter.

Definitions (binding):

- A call belongs to the local day (Asia/Ho_Chi_Minh) on which it started, and to the switchboard —
  and that switchboard's region — where it entered: a call overflowed to another switchboard is one
  call, counted once, where it entered. ``number`` filters on the dialled number (111, 18001567).
- Outcomes as the call records define them (answered, abandoned, timeout, not_queued, failed,
  in_progress).
- answered rate = answered ÷ (answered + abandoned + timeout), the calls that waited;
- service level = answered within 20 s of the start of the wait ÷ answered;
- SL2 = (answered within 20 s + abandoned within 20 s) ÷ (answered + abandoned);
- average wait: over the calls that waited, from the start of the wait to the answer or the end;
  average talk: over answered calls, from the answer to the end.
- Caller categories, contact types, trafficking forms and destination countries: counts and
  percentages (2 decimals) of the contact records of the calls in the filter; for all of them and
  for the trafficking-related ones. A record may name several forms: the percentages of forms are of
  records, so they may add up to more than 100.
- Referrals: those made (created) in the period, from cases of the switchboards in the filter.
Periods: day, ISO week (Monday to Sunday, labelled 2026-W48), month, year — in Vietnamese time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
Granularity = Literal["day", "week", "month", "year"]
SERVICE_SECONDS = 20
_LABEL = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM", "year": "YYYY"}


@dataclass(frozen=True)
class Filter:
    date_from: date
    date_to: date
    region: str | None = None
    switchboard: str | None = None
    number: str | None = None
    granularity: Granularity = "month"

    @property
    def since(self) -> datetime:
        return datetime.combine(self.date_from, time(), LOCAL)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.date_to + timedelta(days=1), time(), LOCAL)

    def params(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from,
            "date_to": self.date_to,
            "since": self.since,
            "until": self.until,
            "region": self.region,
            "switchboard": self.switchboard,
            "number": self.number,
            "unit": self.granularity,
            "label": _LABEL[self.granularity],
        }

    def describe(self) -> dict[str, str]:
        """The filter as written on an export (and in the audit log)."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "region": self.region or "all",
            "switchboard": self.switchboard or "all",
            "number": self.number or "all",
            "granularity": self.granularity,
        }


# the calls of a filter: where they entered, when they started (local days), what was dialled
CALLS_WHERE = """
    c.started_at >= :since AND c.started_at < :until
    AND (CAST(:switchboard AS text) IS NULL OR c.switchboard_code = :switchboard)
    AND (CAST(:region AS text) IS NULL OR c.switchboard_code IN (SELECT code FROM switchboards WHERE region = :region))
    AND (CAST(:number AS text) IS NULL OR c.dialled_number = :number)
"""
PERIOD = "to_char(date_trunc(:unit, c.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh'), :label)"

CALL_FIGURES = f"""
    count(*) AS calls,
    count(*) FILTER (WHERE c.outcome = 'answered') AS answered,
    count(*) FILTER (WHERE c.outcome = 'abandoned') AS abandoned,
    count(*) FILTER (WHERE c.outcome = 'timeout') AS timeout,
    count(*) FILTER (WHERE c.outcome = 'not_queued') AS not_queued,
    count(*) FILTER (WHERE c.outcome = 'failed') AS failed,
    count(*) FILTER (WHERE c.outcome = 'in_progress') AS in_progress,
    count(*) FILTER (WHERE c.outcome = 'answered' AND c.wait_seconds <= {SERVICE_SECONDS}) AS answered_in_time,
    count(*) FILTER (WHERE c.outcome = 'abandoned' AND c.wait_seconds <= {SERVICE_SECONDS}) AS abandoned_in_time,
    sum(c.wait_seconds) FILTER (WHERE c.outcome IN ('answered', 'abandoned', 'timeout')) AS wait_sum,
    sum(c.talk_seconds) FILTER (WHERE c.outcome = 'answered') AS talk_sum
"""
OUTCOMES = ("answered", "abandoned", "timeout", "not_queued", "failed", "in_progress")


@dataclass
class CallFigures:
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    answered_in_time: int = 0
    abandoned_in_time: int = 0
    wait_sum: float = 0.0
    talk_sum: float = 0.0

    @classmethod
    def of(cls, row: Any) -> CallFigures:
        m = row._mapping
        return cls(
            calls=int(m["calls"]),
            outcomes={o: int(m[o]) for o in OUTCOMES},
            answered_in_time=int(m["answered_in_time"]),
            abandoned_in_time=int(m["abandoned_in_time"]),
            wait_sum=float(m["wait_sum"] or 0),
            talk_sum=float(m["talk_sum"] or 0),
        )

    @property
    def waited(self) -> int:
        return sum(self.outcomes.get(o, 0) for o in ("answered", "abandoned", "timeout"))

    def rates(self) -> dict[str, float | None]:
        answered = self.outcomes.get("answered", 0)
        abandoned = self.outcomes.get("abandoned", 0)
        return {
            "answered_rate": _ratio(answered, self.waited),
            "service_level": _ratio(self.answered_in_time, answered),
            "sl2": _ratio(self.answered_in_time + self.abandoned_in_time, answered + abandoned),
            "avg_wait_seconds": round(self.wait_sum / self.waited, 1) if self.waited else None,
            "avg_talk_seconds": round(self.talk_sum / answered, 1) if answered else None,
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


# the same figures from the daily rollup (reports/rollup.py): as of its last refresh
DAYS_WHERE = """
    d.day >= :date_from AND d.day <= :date_to
    AND (CAST(:switchboard AS text) IS NULL OR d.switchboard_code = :switchboard)
    AND (CAST(:region AS text) IS NULL OR d.switchboard_code IN (SELECT code FROM switchboards WHERE region = :region))
    AND (CAST(:number AS text) IS NULL OR d.dialled_number = :number)
"""
DAY_FIGURES = ", ".join(
    f"COALESCE(sum(d.{col}), 0) AS {col}"
    for col in ("calls", *OUTCOMES, "answered_in_time", "abandoned_in_time", "wait_sum", "talk_sum")
)
DAY_PERIOD = "to_char(date_trunc(:unit, d.day::timestamp), :label)"


async def call_figures(session: AsyncSession, f: Filter) -> CallFigures:
    row = (
        await session.execute(
            text(f"SELECT {DAY_FIGURES} FROM report_call_days d WHERE {DAYS_WHERE}"), f.params()
        )
    ).one()
    return CallFigures.of(row)


async def call_series(session: AsyncSession, f: Filter) -> list[tuple[str, CallFigures]]:
    rows = (
        await session.execute(
            text(
                f"SELECT {DAY_PERIOD} AS period, {DAY_FIGURES} FROM report_call_days d WHERE {DAYS_WHERE} GROUP BY 1 ORDER BY 1"
            ),
            f.params(),
        )
    ).all()
    return [(r.period, CallFigures.of(r)) for r in rows]


async def call_figures_by_switchboard(
    session: AsyncSession, f: Filter, region: bool = False
) -> list[tuple[str, CallFigures]]:
    key = (
        "(SELECT s.region FROM switchboards s WHERE s.code = d.switchboard_code)"
        if region
        else "d.switchboard_code"
    )
    rows = (
        await session.execute(
            text(
                f"SELECT {key} AS key, {DAY_FIGURES} FROM report_call_days d WHERE {DAYS_WHERE} GROUP BY 1 ORDER BY 1"
            ),
            f.params(),
        )
    ).all()
    return [(str(r.key), CallFigures.of(r)) for r in rows]


async def record_counts(session: AsyncSession, f: Filter) -> tuple[int, int]:
    """(contact records, trafficking-related ones) from the rollup."""
    row = (
        await session.execute(
            text(
                f"SELECT COALESCE(sum(d.records), 0), COALESCE(sum(d.related), 0) FROM report_call_days d WHERE {DAYS_WHERE}"
            ),
            f.params(),
        )
    ).one()
    return int(row[0]), int(row[1])


# the same over the raw records: the benchmark's plain GROUP BY, and what the rollup is tested against
async def call_figures_raw(session: AsyncSession, f: Filter) -> CallFigures:
    row = (
        await session.execute(text(f"SELECT {CALL_FIGURES} FROM calls c WHERE {CALLS_WHERE}"), f.params())
    ).one()
    return CallFigures.of(row)


async def call_series_raw(session: AsyncSession, f: Filter) -> list[tuple[str, CallFigures]]:
    rows = (
        await session.execute(
            text(
                f"SELECT {PERIOD} AS period, {CALL_FIGURES} FROM calls c WHERE {CALLS_WHERE} GROUP BY 1 ORDER BY 1"
            ),
            f.params(),
        )
    ).all()
    return [(r.period, CallFigures.of(r)) for r in rows]


async def call_figures_by(session: AsyncSession, f: Filter, key_sql: str) -> list[tuple[str, CallFigures]]:
    """Call figures per value of an expression over the raw calls c (the caller's region)."""
    rows = (
        await session.execute(
            text(
                f"SELECT {key_sql} AS key, {CALL_FIGURES} FROM calls c WHERE {CALLS_WHERE} GROUP BY 1 ORDER BY 1"
            ),
            f.params(),
        )
    ).all()
    return [(str(r.key), CallFigures.of(r)) for r in rows]


async def trafficking_calls(session: AsyncSession, f: Filter) -> tuple[int, int]:
    """(contact records, trafficking-related ones) of the calls in the filter."""
    row = (
        await session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE r.trafficking_related) FROM contact_records r "
                f"JOIN calls c ON c.id = r.call_id WHERE {CALLS_WHERE}"
            ),
            f.params(),
        )
    ).one()
    return int(row[0]), int(row[1])


# what each breakdown counts, per contact record of the calls in the filter
BREAKDOWNS = {
    "caller_category": "SELECT r.caller_category AS code, r.trafficking_related AS tr FROM contact_records r",
    "contact_type": "SELECT r.contact_type AS code, r.trafficking_related AS tr FROM contact_records r",
    "trafficking_form": "SELECT DISTINCT r.id, f.code, r.trafficking_related AS tr FROM contact_records r "
    "CROSS JOIN LATERAL (SELECT unnest(r.trafficking_forms) UNION SELECT unnest(p.trafficking_forms) "
    "FROM case_persons p WHERE p.case_id = r.case_id AND p.role = 'victim') AS f(code)",
    "destination_country": "SELECT DISTINCT r.id, p.destination_country AS code, r.trafficking_related AS tr "
    "FROM contact_records r JOIN case_persons p ON p.case_id = r.case_id AND p.destination_country IS NOT NULL",
}


async def breakdown(
    session: AsyncSession, f: Filter, name: str
) -> tuple[list[tuple[str, int, int]], int, int]:
    """[(code, records, trafficking-related records)], all records, trafficking-related records."""
    source = BREAKDOWNS[name]
    rows = (
        await session.execute(
            text(
                f"SELECT b.code, count(*) AS n, count(*) FILTER (WHERE b.tr) AS ntr FROM ({source} "
                f"JOIN calls c ON c.id = r.call_id WHERE {CALLS_WHERE}) b WHERE b.code IS NOT NULL "
                "GROUP BY b.code ORDER BY count(*) DESC, b.code"
            ),
            f.params(),
        )
    ).all()
    records, related = await trafficking_calls(session, f)
    return [(str(code), int(n), int(ntr)) for code, n, ntr in rows], records, related


REFERRALS_WHERE = """
    x.created_at >= :since AND x.created_at < :until
    AND (CAST(:switchboard AS text) IS NULL OR k.switchboard_code = :switchboard)
    AND (CAST(:region AS text) IS NULL OR k.switchboard_code IN (SELECT code FROM switchboards WHERE region = :region))
"""


async def referral_counts(session: AsyncSession, f: Filter, key_sql: str) -> list[tuple[str, int]]:
    rows = (
        await session.execute(
            text(
                f"SELECT {key_sql} AS key, count(*) FROM referrals x JOIN cases k ON k.id = x.case_id "
                f"JOIN partners pa ON pa.id = x.partner_id WHERE {REFERRALS_WHERE} AND {key_sql} IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            f.params(),
        )
    ).all()
    return [(str(k), int(n)) for k, n in rows]


async def referral_times(session: AsyncSession, f: Filter) -> dict[str, float | int | None]:
    row = (
        await session.execute(
            text(
                "SELECT count(*), "
                "avg(EXTRACT(EPOCH FROM x.accepted_at - x.sent_at)) FILTER (WHERE x.accepted_at IS NOT NULL AND x.sent_at IS NOT NULL), "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM x.accepted_at - x.sent_at)) "
                "FILTER (WHERE x.accepted_at IS NOT NULL AND x.sent_at IS NOT NULL), "
                "avg(EXTRACT(EPOCH FROM x.done_at - x.sent_at)) FILTER (WHERE x.done_at IS NOT NULL AND x.sent_at IS NOT NULL), "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM x.done_at - x.sent_at)) "
                "FILTER (WHERE x.done_at IS NOT NULL AND x.sent_at IS NOT NULL) "
                f"FROM referrals x JOIN cases k ON k.id = x.case_id WHERE {REFERRALS_WHERE}"
            ),
            f.params(),
        )
    ).one()

    def hours(v: Any) -> float | None:
        return None if v is None else round(float(v) / 3600, 1)

    return {
        "referrals": int(row[0]),
        "avg_hours_to_acceptance": hours(row[1]),
        "median_hours_to_acceptance": hours(row[2]),
        "avg_hours_to_completion": hours(row[3]),
        "median_hours_to_completion": hours(row[4]),
    }


async def routing_reasons(session: AsyncSession, f: Filter) -> list[tuple[str, int]]:
    """Calls by the first decision that sent them elsewhere or queued them, counted once per call."""
    rows = (
        await session.execute(
            text(
                "SELECT d.reason, count(DISTINCT d.call_id) FROM routing_decisions d JOIN calls c ON c.id = d.call_id "
                f"WHERE {CALLS_WHERE} AND d.reason IN ('overflow_no_counsellor', 'overflow_wait', 'after_hours', "
                "'wait_limit', 'no_transfer_target') GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            f.params(),
        )
    ).all()
    return [(str(k), int(n)) for k, n in rows]


async def workload(session: AsyncSession, f: Filter) -> list[dict[str, Any]]:
    """Per counsellor: calls answered, talk time, missed offers, contact records written."""
    rows = (
        await session.execute(
            text(
                "WITH a AS (SELECT c.counsellor_user_id AS uid, count(*) AS answered, sum(c.talk_seconds) AS talk "
                f"FROM calls c WHERE {CALLS_WHERE} AND c.outcome = 'answered' AND c.counsellor_user_id IS NOT NULL GROUP BY 1), "
                # an offer recorded as missed after its counsellor had already answered the call is
                # not a miss: the answer event came late (held by a relay through an outage)
                "m AS (SELECT o.user_id AS uid, count(*) AS missed FROM call_offers o JOIN calls c ON c.id = o.call_id "
                f"WHERE {CALLS_WHERE} AND o.user_id IS NOT NULL AND NOT (c.counsellor_user_id IS NOT DISTINCT FROM o.user_id "
                "AND c.answered_at <= o.offered_at) GROUP BY 1), "
                "w AS (SELECT r.author_user_id AS uid, count(*) AS records FROM contact_records r JOIN calls c ON c.id = r.call_id "
                f"WHERE {CALLS_WHERE} AND r.author_user_id IS NOT NULL GROUP BY 1) "
                "SELECT u.id, u.username, u.display_name, u.home_switchboard, COALESCE(a.answered, 0), COALESCE(a.talk, 0), "
                "COALESCE(m.missed, 0), COALESCE(w.records, 0) FROM users u LEFT JOIN a ON a.uid = u.id "
                "LEFT JOIN m ON m.uid = u.id LEFT JOIN w ON w.uid = u.id "
                "WHERE a.uid IS NOT NULL OR m.uid IS NOT NULL OR w.uid IS NOT NULL ORDER BY 5 DESC, 2"
            ),
            f.params(),
        )
    ).all()
    return [
        {
            "user_id": r[0],
            "username": r[1],
            "display_name": r[2],
            "switchboard": r[3],
            "answered": int(r[4]),
            "talk_hours": round(float(r[5]) / 3600, 2),
            "missed_offers": int(r[6]),
            "contact_records": int(r[7]),
        }
        for r in rows
    ]
