"""The retention policy (``hotline-api purge``): personal data is kept as long as its purpose needs,
then removed, while the anonymous facts the reports count stay.

| class | after (setting, default) | removed | kept |
|---|---|---|---|
| ``silent_calls`` | HOTLINE_RETENTION_SILENT_CALL_DAYS, 180 | the caller's number, its keyed hash and the recording of calls recorded as silent, nuisance or wrong number, and their notes | the call and its contact record's codes |
| ``closed_cases`` | HOTLINE_RETENTION_CLOSED_CASE_DAYS, 1,825 | names, numbers and their hashes, notes, summaries, free-text reasons of cases closed that long ago, with their contact records' notes | the case's codes, dates and timeline |
| ``raw_events`` | HOTLINE_RETENTION_RAW_EVENT_DAYS, 400 | the Asterisk events as received | the call records built from them |
| ``quarantine`` | HOTLINE_RETENTION_QUARANTINE_DAYS, 90 | bodies refused by the webhooks | — |

Each run writes one ``purge_runs`` row per class (also in a dry run, marked as such) and one audit
entry. The audit log itself is never purged: its hash chain is the proof of who saw what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit import service as audit
from hotline_api.audit.service import Actor
from hotline_api.config import Settings
from hotline_api.privacy.models import PurgeRun


@dataclass(frozen=True)
class DataClass:
    name: str
    setting: str
    # (count SQL, purge statements); :cutoff is bound
    count_sql: str
    purge_sql: tuple[str, ...]


CLASSES: tuple[DataClass, ...] = (
    DataClass(
        "silent_calls",
        "retention_silent_call_days",
        "SELECT count(*) FROM calls c JOIN contact_records r ON r.call_id = c.id "
        "WHERE r.contact_type IN ('silent', 'nuisance', 'wrong_number') AND COALESCE(c.ended_at, c.started_at) < :cutoff "
        "AND (c.caller_number_enc IS NOT NULL OR c.caller_hash IS NOT NULL OR c.recording_enc IS NOT NULL "
        "OR r.notes_enc IS NOT NULL)",
        (
            "UPDATE contact_records r SET notes_enc = NULL FROM calls c WHERE r.call_id = c.id "
            "AND r.contact_type IN ('silent', 'nuisance', 'wrong_number') AND COALESCE(c.ended_at, c.started_at) < :cutoff AND r.notes_enc IS NOT NULL",
            "UPDATE calls c SET caller_number_enc = NULL, caller_hash = NULL, recording_enc = NULL FROM contact_records r "
            "WHERE r.call_id = c.id AND r.contact_type IN ('silent', 'nuisance', 'wrong_number') AND COALESCE(c.ended_at, c.started_at) < :cutoff "
            "AND (c.caller_number_enc IS NOT NULL OR c.caller_hash IS NOT NULL OR c.recording_enc IS NOT NULL)",
        ),
    ),
    DataClass(
        "closed_cases",
        "retention_closed_case_days",
        "SELECT count(*) FROM cases WHERE status = 'closed' AND closed_at < :cutoff "
        "AND (summary_enc IS NOT NULL OR caller_hash IS NOT NULL "
        "OR EXISTS (SELECT 1 FROM case_persons p WHERE p.case_id = cases.id AND (p.name_enc IS NOT NULL OR p.phone_enc IS NOT NULL)) "
        "OR EXISTS (SELECT 1 FROM case_notes n WHERE n.case_id = cases.id) "
        "OR EXISTS (SELECT 1 FROM contact_records r WHERE r.case_id = cases.id AND r.notes_enc IS NOT NULL))",
        (
            "DELETE FROM case_notes WHERE case_id IN (SELECT id FROM cases WHERE status = 'closed' AND closed_at < :cutoff)",
            "UPDATE case_persons SET name_enc = NULL, name_hashes = '{}', phone_enc = NULL, phone_hash = NULL "
            "WHERE case_id IN (SELECT id FROM cases WHERE status = 'closed' AND closed_at < :cutoff)",
            "UPDATE contact_records SET notes_enc = NULL WHERE case_id IN (SELECT id FROM cases WHERE status = 'closed' AND closed_at < :cutoff)",
            "UPDATE referrals SET override_reason_enc = NULL WHERE case_id IN (SELECT id FROM cases WHERE status = 'closed' AND closed_at < :cutoff)",
            "UPDATE referral_transitions SET reason_enc = NULL WHERE referral_id IN "
            "(SELECT id FROM referrals WHERE case_id IN (SELECT id FROM cases WHERE status = 'closed' AND closed_at < :cutoff))",
            "UPDATE cases SET summary_enc = NULL, caller_hash = NULL WHERE id IN (SELECT id FROM cases WHERE status = 'closed' AND closed_at < :cutoff)",
        ),
    ),
    DataClass(
        "raw_events",
        "retention_raw_event_days",
        "SELECT count(*) FROM webhook_events WHERE received_at < :cutoff",
        ("DELETE FROM webhook_events WHERE received_at < :cutoff",),
    ),
    DataClass(
        "quarantine",
        "retention_quarantine_days",
        "SELECT count(*) FROM webhook_quarantine WHERE received_at < :cutoff",
        ("DELETE FROM webhook_quarantine WHERE received_at < :cutoff",),
    ),
)


@dataclass
class PurgeResult:
    data_class: str
    cutoff: datetime
    rows: int


async def purge(
    session: AsyncSession, settings: Settings, actor: Actor, dry_run: bool, now: datetime | None = None
) -> list[PurgeResult]:
    """Carry out (or, dry, count) the policy in the session's transaction; the caller commits."""
    now = now or datetime.now(UTC)
    results = []
    for c in CLASSES:
        cutoff = now - timedelta(days=int(getattr(settings, c.setting)))
        rows = int(await session.scalar(text(c.count_sql), {"cutoff": cutoff}) or 0)
        if not dry_run and rows:
            for statement in c.purge_sql:
                await session.execute(text(statement), {"cutoff": cutoff})
        session.add(PurgeRun(actor=actor.label, data_class=c.name, cutoff=cutoff, rows=rows, dry_run=dry_run))
        results.append(PurgeResult(c.name, cutoff, rows))
    await audit.record(
        session,
        actor,
        "purge_dry_run" if dry_run else "purge",
        "retention",
        None,
        {r.data_class: r.rows for r in results},
    )
    await session.flush()
    return results
