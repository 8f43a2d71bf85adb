"""Referrals from a case to a partner (PRODUCT.md §3, issue 6 item 6): the rules, over a session (the
request owns the transaction; these flush, never commit). HTTP: referrals_router.py.

The state machine::

    draft ──▶ sent ──▶ accepted ──▶ in_progress ──▶ done (outcome)
                  └──▶ rejected (reason)
    revoked: from draft, sent, accepted or in_progress

Consent: a referral carries the victim's consent (``given``) or a supervisor's emergency override
with its reason (``emergency_override``; the reason encrypted, context ``referrals.override_reason``).
While the case's latest recorded consent is ``withdrawn`` (or ``refused``) no referral is made and
none is sent, unless under an emergency override.

Every transition is timestamped, attributed (``ReferralTransition``), put on the case's timeline
(``CaseEvent`` kind ``referral``) and audited by the router.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth.service import Principal
from hotline_api.cases import access, codes, service
from hotline_api.cases.models import Case, Partner, Referral, ReferralTransition
from hotline_api.errors import Conflict, Forbidden, Unprocessable
from hotline_api.privacy.crypto import Keyring

OVERRIDE_CONTEXT = "referrals.override_reason"
REASON_CONTEXT = "referral_transitions.reason"

# where a referral may go from each state; the final states go nowhere
MOVES: dict[str, tuple[str, ...]] = {
    "draft": ("sent", "revoked"),
    "sent": ("accepted", "rejected", "revoked"),
    "accepted": ("in_progress", "revoked"),
    "in_progress": ("done", "revoked"),
    "rejected": (),
    "done": (),
    "revoked": (),
}
# the recorded consents that stop a referral (a refusal is as binding as a withdrawal)
CONSENT_STOPS = ("withdrawn", "refused")
# the case statuses a sent referral moves to "referred"
REFERRING_STATUSES = ("open", "follow_up")

# follow-up reminders: a referral sent and not answered after this many days, and one accepted or in
# progress without any change after this many, is overdue (the list's query parameters override them)
SENT_OVERDUE_DAYS = 3
ACTIVE_OVERDUE_DAYS = 14


def illegal_move(current: str, to: str) -> Conflict:
    allowed = MOVES.get(current, ())
    if not allowed:
        return Conflict(
            f"a referral cannot go from {current} to {to}: {current} is final, it goes nowhere", field="to"
        )
    return Conflict(
        f"a referral cannot go from {current} to {to}; from {current} it may go to {' or '.join(allowed)}",
        field="to",
    )


def may_override(p: Principal, case_: Case) -> bool:
    """An emergency override is a supervisor's decision: of the case's switchboard, or national."""
    return access.may_assign(p, case_)


async def consent_stop(session: AsyncSession, case_id: int) -> str | None:
    """The recorded consent that stops referrals of the case (``withdrawn``/``refused``), if any: the
    consent of the case's most recently updated contact record that records one."""
    latest = await service.latest_consent(session, case_id)
    return latest if latest in CONSENT_STOPS else None


def _consent_refusal(stop: str, what: str) -> Conflict:
    return Conflict(
        f"the victim's consent is {stop} (the case's latest contact record says so): {what} only under "
        "an emergency override recorded by a supervisor, with its reason",
        field="consent",
    )


@dataclass
class NewReferral:
    partner_id: int
    referral_type: str
    consent: str  # given | emergency_override
    override_reason: str | None


async def create(
    session: AsyncSession, keyring: Keyring, p: Principal, case_: Case, new: NewReferral
) -> Referral:
    """A draft referral of ``case_`` (locked by the caller) to an active partner."""
    if case_.status == "closed":
        raise Conflict(f"case {case_.reference} is closed: reopen it before referring it", field="case_id")
    if new.consent == "emergency_override":
        if not may_override(p, case_):
            raise Forbidden("only a supervisor of the case's switchboard may record an emergency override")
        if not new.override_reason:
            raise Unprocessable("an emergency override needs its reason", field="override_reason")
    elif new.override_reason:
        raise Unprocessable("override_reason is only for consent emergency_override", field="override_reason")
    partner = await session.get(Partner, new.partner_id)
    if partner is None:
        raise Unprocessable(f"partner_id: there is no partner {new.partner_id}", field="partner_id")
    if not partner.active:
        raise Unprocessable(
            f"partner_id: partner {partner.id} is no longer active; choose an active partner",
            field="partner_id",
        )
    if new.consent != "emergency_override":
        stop = await consent_stop(session, case_.id)
        if stop is not None:
            raise _consent_refusal(stop, "a new referral can be made")
    now = datetime.now(UTC)
    referral = Referral(
        case_id=case_.id,
        partner_id=partner.id,
        referral_type=new.referral_type,
        status="draft",
        status_changed_at=now,
        consent=new.consent,
        override_by=p.user_id if new.consent == "emergency_override" else None,
        override_reason_enc=keyring.encrypt_optional(new.override_reason, OVERRIDE_CONTEXT),
        created_at=now,
        created_by=p.user_id,
    )
    session.add(referral)
    await session.flush()
    session.add(
        ReferralTransition(
            referral_id=referral.id, at=now, by_user_id=p.user_id, from_status=None, to_status="draft"
        )
    )
    details: dict[str, object] = {"referral_id": referral.id, "from": None, "to": "draft"}
    if new.consent == "emergency_override":
        details["emergency_override"] = True
    await service.add_event(session, case_, p.user_id, "referral", details)
    await session.flush()
    return referral


@dataclass
class Move:
    to: str
    reason: str | None = None
    outcome: str | None = None
    external_reference: str | None = None
    override_reason: str | None = None


@dataclass
class Moved:
    previous: str
    case_status_from: str | None  # set when sending moved the case to "referred"
    override: bool


async def transition(
    session: AsyncSession, keyring: Keyring, p: Principal, case_: Case, referral: Referral, move: Move
) -> Moved:
    """Move ``referral`` (both it and ``case_`` locked by the caller) to ``move.to``, or refuse:
    409 for an illegal move or one consent forbids, 422 for a missing reason or outcome."""
    current = referral.status
    if move.to not in MOVES.get(current, ()):
        raise illegal_move(current, move.to)
    if move.to == "rejected" and not move.reason:
        raise Unprocessable("a rejection needs its reason (what the partner said)", field="reason")
    if move.to == "done" and not move.outcome:
        raise Unprocessable(
            "a referral is done with its outcome (code list referral_outcome)", field="outcome"
        )
    if move.to != "done" and move.outcome:
        raise Unprocessable("an outcome is recorded only when the referral is done", field="outcome")
    if move.override_reason and move.to != "sent":
        raise Unprocessable("an emergency override is recorded when sending", field="override_reason")
    if move.outcome:
        await codes.check(session, "outcome", "referral_outcome", move.outcome)
    override = False
    if move.to == "sent":
        if case_.status == "closed":
            raise Conflict(f"case {case_.reference} is closed: reopen it before sending a referral")
        partner = await session.get(Partner, referral.partner_id)
        if partner is None or not partner.active:
            raise Conflict(
                f"partner {referral.partner_id} is no longer active: revoke this draft and refer the case "
                "to an active partner"
            )
        if move.override_reason:
            if not may_override(p, case_):
                raise Forbidden(
                    "only a supervisor of the case's switchboard may record an emergency override"
                )
            referral.consent = "emergency_override"
            referral.override_by = p.user_id
            referral.override_reason_enc = keyring.encrypt(move.override_reason, OVERRIDE_CONTEXT)
            override = True
        elif referral.consent != "emergency_override":
            stop = await consent_stop(session, case_.id)
            if stop is not None:
                raise _consent_refusal(stop, "the referral can be sent")
    now = datetime.now(UTC)
    referral.status = move.to
    referral.status_changed_at = now
    if move.to == "sent":
        referral.sent_at = now
    elif move.to == "accepted":
        referral.accepted_at = now
    elif move.to == "done":
        referral.done_at = now
        referral.outcome = move.outcome
    if move.external_reference is not None:
        referral.external_reference = move.external_reference
    session.add(
        ReferralTransition(
            referral_id=referral.id,
            at=now,
            by_user_id=p.user_id,
            from_status=current,
            to_status=move.to,
            reason_enc=keyring.encrypt_optional(move.reason, REASON_CONTEXT),
            outcome=move.outcome,
        )
    )
    details: dict[str, object] = {"referral_id": referral.id, "from": current, "to": move.to}
    if override:
        details["emergency_override"] = True
    await service.add_event(session, case_, p.user_id, "referral", details)
    case_status_from = None
    if move.to == "sent" and case_.status in REFERRING_STATUSES:
        case_status_from = case_.status
        case_.status = "referred"
        case_.status_changed_at = now
        case_.status_changed_by = p.user_id
        await service.add_event(
            session,
            case_,
            p.user_id,
            "status",
            {"from": case_status_from, "to": "referred", "referral_id": referral.id},
        )
    await session.flush()
    return Moved(previous=current, case_status_from=case_status_from, override=override)


# ---- follow-up reminders -------------------------------------------------------------------------


def overdue_scope(p: Principal) -> ColumnElement[bool]:
    """Whose stuck referrals a reader is reminded of: national supervisors all; supervisors their
    switchboard's; counsellors those of the cases assigned to them (rights are the union of roles)."""
    if p.has("national_supervisor"):
        return true()
    conds: list[ColumnElement[bool]] = []
    if p.has("supervisor"):
        conds.append(Case.switchboard_code == p.home_switchboard)
    if p.has("supervisor", "counsellor"):
        conds.append(Case.assigned_user_id == p.user_id)
    return or_(*conds) if conds else false()


def overdue_since(sent_days: int, active_days: int) -> ColumnElement[datetime]:
    """When a referral became overdue: its last change plus the patience of its state."""
    return case(
        (Referral.status == "sent", Referral.status_changed_at + timedelta(days=sent_days)),
        else_=Referral.status_changed_at + timedelta(days=active_days),
    )


def overdue_filter(now: datetime, sent_days: int, active_days: int) -> ColumnElement[bool]:
    return or_(
        and_(Referral.status == "sent", Referral.status_changed_at < now - timedelta(days=sent_days)),
        and_(
            Referral.status.in_(("accepted", "in_progress")),
            Referral.status_changed_at < now - timedelta(days=active_days),
        ),
    )


async def transitions_of(session: AsyncSession, referral_id: int) -> list[ReferralTransition]:
    return list(
        (
            await session.scalars(
                select(ReferralTransition)
                .where(ReferralTransition.referral_id == referral_id)
                .order_by(ReferralTransition.at, ReferralTransition.id)
            )
        ).all()
    )
