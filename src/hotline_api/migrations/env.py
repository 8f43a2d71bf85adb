"""Alembic environment. Migrations ship inside the package so that an installed service can
migrate its own database (``hotline-api migrate``, or on ``serve``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from hotline_api.db.base import Base, import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def _sync_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from hotline_api.config import get_settings

        url = get_settings().database_url
    if not url:
        raise RuntimeError("no database: set HOTLINE_DATABASE_URL or use `hotline-api migrate`")
    return url


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_sync_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=_sync_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
