"""Migrations: reversible, and in agreement with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text

from hotline_api.db import migrate
from hotline_api.db.base import Base, import_all_models
from hotline_api.db.embedded import EmbeddedPostgres


def test_upgrade_downgrade_upgrade_and_models_agree(pg_server: EmbeddedPostgres) -> None:
    name = "hotline_migrations"
    pg_server.drop_database(name)
    pg_server.ensure_database(name)
    url = pg_server.url(name)
    try:
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            left = set(inspect(conn).get_table_names()) - {"alembic_version"}
            assert left == set(), f"downgrade left tables behind: {left}"
        migrate.upgrade(url)
        import_all_models()
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            assert diff == [], f"models and migrations disagree: {diff}"
            # the reference data came with the schema
            assert conn.execute(text("SELECT count(*) FROM provinces")).scalar() == 34
            assert conn.execute(text("SELECT count(*) FROM area_codes")).scalar() == 63
            exts = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
            assert {"unaccent", "pg_trgm"} <= exts
        engine.dispose()
    finally:
        pg_server.drop_database(name)


def test_concurrent_upgrades_are_safe(pg_server: EmbeddedPostgres) -> None:
    """Several processes starting at once: the advisory lock lets one migrate, the rest find it done."""
    from concurrent.futures import ThreadPoolExecutor

    name = "hotline_migrations_race"
    pg_server.drop_database(name)
    pg_server.ensure_database(name)
    url = pg_server.url(name)
    try:
        with ThreadPoolExecutor(4) as pool_:
            for f in [pool_.submit(migrate.upgrade, url) for _ in range(4)]:
                f.result()
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            assert conn.execute(text("SELECT count(*) FROM switchboards")).scalar() == 3
        engine.dispose()
    finally:
        pg_server.drop_database(name)
