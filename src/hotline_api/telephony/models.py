from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base


class SwitchboardCredential(Base):
    """A switchboard's secret. Two may be active at once, so that a PBX can move to a new one.

    The secret is kept encrypted, not hashed: Standard Webhooks signatures are HMACs, and checking
    one needs the secret itself.
    """

    __tablename__ = "switchboard_credentials"
    __table_args__ = (
        Index("ix_switchboard_credentials_active", "switchboard_code", postgresql_where="revoked_at IS NULL"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(Text)


class WebhookEvent(Base):
    """One event as received, encrypted (it holds callers' numbers and names), with its key for
    recognising a retransmission and the few plain facts needed to list it on a call's timeline."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("uq_webhook_events_dedup", "switchboard_code", "dedup_key", unique=True),
        Index("ix_webhook_events_call_id", "call_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # no foreign key: the busiest insert of the service skips a trigger per row; the intake only
    # ever writes a switchboard it has just authenticated
    switchboard_code: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(8))  # ari, ami, cdr, cel
    dedup_key: Mapped[bytes] = mapped_column(LargeBinary)
    webhook_id: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    event_type: Mapped[str] = mapped_column(Text)
    event_time: Mapped[datetime | None]
    linkedid: Mapped[str | None] = mapped_column(Text)
    uniqueid: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[int | None] = mapped_column(BigInteger)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)


class QuarantinedBody(Base):
    """A webhook body that could not be applied, kept (encrypted) for an admin to inspect and replay."""

    __tablename__ = "webhook_quarantine"
    __table_args__ = (Index("ix_webhook_quarantine_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    source: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status_code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    event_index: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(Text)
    webhook_id: Mapped[str | None] = mapped_column(Text)
    client_address: Mapped[str | None] = mapped_column(Text)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # held → replayed (applied) | discarded
    status: Mapped[str] = mapped_column(String(16), default="held")
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(Text)
