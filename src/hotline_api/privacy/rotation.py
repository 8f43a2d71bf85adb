"""Every encrypted column, and re-encrypting them under the active key (``hotline-api keys rotate``).

A value names the key that sealed it (crypto.py), so old and new keys work side by side: the
service reads values of any configured key and seals new ones with the active key. Rotation is
therefore done without stopping the service:

1. ``hotline-api keys add`` puts a new key in the key file (or prints one for HOTLINE_ENCRYPTION_KEYS),
   not active yet; restart the service processes one by one so that each can read it;
2. ``hotline-api keys activate <id>``, and restart them again one by one: new values are sealed
   with the new key;
3. ``hotline-api keys rotate`` re-seals the stored values, a batch of rows per transaction, while
   the service runs (rows being changed at that moment are skipped and picked up by the next pass);
4. ``hotline-api keys status`` shows no value left under the old key; the old key may then be
   removed from the configuration (keep it in the escrow until the backups made before are gone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import LargeBinary, text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.privacy.crypto import Keyring


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    column: str
    context: str
    key: str = "id"


# every *_enc column of the schema, with the context it is sealed for; a test checks that the list
# and the models agree, so that a new column cannot be forgotten
ENCRYPTED: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("calls", "caller_number_enc", "calls.caller_number"),
    EncryptedColumn("calls", "recording_enc", "calls.recording"),
    EncryptedColumn("webhook_events", "body_enc", "webhook_events.body"),
    EncryptedColumn("webhook_quarantine", "body_enc", "webhook_quarantine.body"),
    EncryptedColumn("switchboard_credentials", "secret_enc", "switchboard_credentials.secret"),
    EncryptedColumn("contact_records", "notes_enc", "contact_records.notes"),
    EncryptedColumn("cases", "summary_enc", "cases.summary"),
    EncryptedColumn("case_persons", "name_enc", "case_persons.name"),
    EncryptedColumn("case_persons", "phone_enc", "case_persons.phone"),
    EncryptedColumn("case_notes", "note_enc", "case_notes.note"),
    EncryptedColumn("partners", "contact_points_enc", "partners.contact_points"),
    EncryptedColumn("referrals", "override_reason_enc", "referrals.override_reason"),
    EncryptedColumn("referral_transitions", "reason_enc", "referral_transitions.reason"),
)

# the key id inside a sealed value: byte 0 is the format, byte 1 the id's length, then the id
_KID_SQL = "encode(substring({col} FROM 3 FOR get_byte({col}, 1)), 'escape')"


def model_columns() -> set[tuple[str, str]]:
    """(table, column) of every binary *_enc column the models declare."""
    from hotline_api.db.base import Base, import_all_models

    import_all_models()
    return {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("_enc") and isinstance(column.type, LargeBinary)
    }


async def status(session: AsyncSession) -> list[tuple[str, str, str, int]]:
    """(table, column, key id, values) for every encrypted column."""
    rows: list[tuple[str, str, str, int]] = []
    for c in ENCRYPTED:
        kid = _KID_SQL.format(col=c.column)
        result = await session.execute(
            text(
                f"SELECT {kid} AS kid, count(*) FROM {c.table} WHERE {c.column} IS NOT NULL GROUP BY 1 ORDER BY 1"  # noqa: S608
            )
        )
        rows += [(c.table, c.column, str(k), int(n)) for k, n in result.all()]
    return rows


async def rotate_column(
    session: AsyncSession,
    keyring: Keyring,
    c: EncryptedColumn,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-seal every value of one column not sealed with the active key; returns how many. Each batch
    is its own transaction (the session is committed after each), and rows locked by the running
    service are skipped for this pass."""
    kid = _KID_SQL.format(col=c.column)
    done = 0
    last: object = None
    while True:
        after = "" if last is None else f"AND {c.key} > :last"
        rows = (
            await session.execute(
                text(
                    f"SELECT {c.key}, {c.column} FROM {c.table} WHERE {c.column} IS NOT NULL "  # noqa: S608
                    f"AND {kid} <> :active {after} ORDER BY {c.key} LIMIT :n FOR UPDATE SKIP LOCKED"
                ),
                {"active": keyring.active_key_id, "last": last, "n": batch},
            )
        ).all()
        if not rows:
            return done
        for pk, blob in rows:
            plain = keyring.decrypt_bytes(bytes(blob), c.context)
            await session.execute(
                text(f"UPDATE {c.table} SET {c.column} = :v WHERE {c.key} = :k"),  # noqa: S608
                {"v": keyring.encrypt_bytes(plain, c.context), "k": pk},
            )
        await session.commit()
        done += len(rows)
        last = rows[-1][0]
        if progress:
            progress(len(rows))


async def pending(session: AsyncSession, keyring: Keyring) -> dict[EncryptedColumn, int]:
    """How many values of each column are still sealed with another key than the active one."""
    counts: dict[EncryptedColumn, int] = {}
    for c in ENCRYPTED:
        kid = _KID_SQL.format(col=c.column)
        n = await session.scalar(
            text(f"SELECT count(*) FROM {c.table} WHERE {c.column} IS NOT NULL AND {kid} <> :active"),  # noqa: S608
            {"active": keyring.active_key_id},
        )
        counts[c] = int(n or 0)
    return counts
