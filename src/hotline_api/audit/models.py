from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base


class AuditEntry(Base):
    """Append-only, hash-chained: ``entry_hash`` = SHA-256(prev_hash ‖ canonical entry).

    A trigger refuses UPDATE, DELETE and TRUNCATE; ``hotline-api audit verify`` recomputes the chain,
    so a row altered or removed behind the trigger's back is found. ``details`` holds ids, field
    names and counts, never personal values.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_actor_at", "actor_user_id", "at"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    at: Mapped[datetime]
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # "user:anh.nguyen", "switchboard:hanoi", "system:cli" …
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    client_address: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
