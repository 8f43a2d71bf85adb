"""The counsellor's records (PRODUCT.md §3): code lists, contact records, cases and the people in
them, partners and referrals.

Codes are stored, never labels. Everything that names or reaches a person — names, phone numbers,
notes, free-text reasons — is stored encrypted (``*_enc``, AES-GCM with a purpose-bound context, see
privacy/crypto.py); matching goes through keyed hashes (``*_hash``, ``name_hashes``), never through
readable copies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base

CASE_STATUSES = ("open", "follow_up", "referred", "closed")
REFERRAL_STATUSES = ("draft", "sent", "accepted", "rejected", "in_progress", "done", "revoked")
CONSENTS = ("given", "refused", "withdrawn", "not_asked")


class CodeList(Base):
    """A list of codes; its version goes up with every change an admin makes."""

    __tablename__ = "code_lists"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    label_vi: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # shipped lists whose codes the service's rules rely on: codes may be added, not retired
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(Text)


class Code(Base):
    """A code and its labels. A retired code stays readable in old records, is no longer offered."""

    __tablename__ = "codes"
    __table_args__ = (CheckConstraint("code ~ '^[a-z][a-z0-9_]{0,47}$'", name="code_format"),)

    list_name: Mapped[str] = mapped_column(ForeignKey("code_lists.name"), primary_key=True)
    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    label_vi: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    added_in: Mapped[int] = mapped_column(Integer, default=1)
    retired_in: Mapped[int | None] = mapped_column(Integer)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"status IN {CASE_STATUSES!r}", name="known_status"),
        Index("ix_cases_caller_hash", "caller_hash", postgresql_where="status <> 'closed'"),
        Index("ix_cases_assigned", "assigned_user_id", postgresql_where="status <> 'closed'"),
        Index("ix_cases_switchboard_status", "switchboard_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # readable and sayable on the phone: 111-2026-000123
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    # the region whose switchboard follows the case (a repeat caller is routed there)
    region: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    status_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status_changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the keyed hash of the number of the caller who opened it: a repeat caller is recognised by it
    caller_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    summary_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CaseCounter(Base):
    """The last reference number given in a year (row-locked while a case is opened)."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class CasePerson(Base):
    """A person concerned by a case: the victim's profile, or another person involved."""

    __tablename__ = "case_persons"
    __table_args__ = (
        Index("ix_case_persons_case", "case_id"),
        Index("ix_case_persons_name_hashes", "name_hashes", postgresql_using="gin"),
        Index("ix_case_persons_phone_hash", "phone_hash"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="victim")  # victim, caller, other
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # keyed hashes of the name's unaccented tokens: "Nguyen" finds "Nguyễn", no readable copy kept
    name_hashes: Mapped[list[bytes]] = mapped_column(PG_ARRAY(LargeBinary), default=list)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    age_group: Mapped[str | None] = mapped_column(String(48))
    sex: Mapped[str | None] = mapped_column(String(48))
    nationality: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    ethnicity: Mapped[str | None] = mapped_column(String(48))
    trafficking_forms: Mapped[list[str]] = mapped_column(ARRAY(String(48)), default=list)
    destination_country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    risk_level: Mapped[str | None] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CaseNote(Base):
    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note_enc: Mapped[bytes] = mapped_column(LargeBinary)


class CaseEvent(Base):
    """The case's timeline: status changes, assignments, calls linked, persons, referrals. Codes
    and ids only (no personal data); notes and calls are joined in when the timeline is read."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ContactRecord(Base):
    """The counsellor's wrap-up of one call."""

    __tablename__ = "contact_records"
    __table_args__ = (
        CheckConstraint(f"consent IS NULL OR consent IN {CONSENTS!r}", name="known_consent"),
        Index("ix_contact_records_case", "case_id"),
        Index("ix_contact_records_author", "author_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), unique=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    caller_category: Mapped[str] = mapped_column(String(48))
    contact_type: Mapped[str] = mapped_column(String(48))
    trafficking_related: Mapped[bool | None] = mapped_column(Boolean)
    trafficking_forms: Mapped[list[str]] = mapped_column(ARRAY(String(48)), default=list)
    relationship: Mapped[str | None] = mapped_column(String(48))
    age_group: Mapped[str | None] = mapped_column(String(48))
    sex: Mapped[str | None] = mapped_column(String(48))
    province_code: Mapped[str | None] = mapped_column(ForeignKey("provinces.code"))
    language: Mapped[str | None] = mapped_column(String(8))
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    consent: Mapped[str | None] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


class Partner(Base):
    """An organisation a case can be referred to. Its name is not personal data; its contact
    points (people, numbers) are, and are encrypted."""

    __tablename__ = "partners"
    __table_args__ = (Index("ix_partners_kind_province", "kind", "province_code"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(48))
    province_code: Mapped[str | None] = mapped_column(ForeignKey("provinces.code"))
    contact_points_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(f"status IN {REFERRAL_STATUSES!r}", name="known_status"),
        Index("ix_referrals_case", "case_id"),
        Index("ix_referrals_status_since", "status", "status_changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    referral_type: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    status_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # consent: the victim's (given), or a supervisor's emergency override with its reason
    consent: Mapped[str] = mapped_column(String(24))
    override_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    external_reference: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]


class ReferralTransition(Base):
    __tablename__ = "referral_transitions"
    __table_args__ = (Index("ix_referral_transitions_referral", "referral_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    outcome: Mapped[str | None] = mapped_column(String(48))


__all__ = [
    "Case",
    "CaseCounter",
    "CaseEvent",
    "CaseNote",
    "CasePerson",
    "Code",
    "CodeList",
    "ContactRecord",
    "Partner",
    "Referral",
    "ReferralTransition",
]
