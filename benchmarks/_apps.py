"""The apps benchmarks/ingest.py compares, each served by uvicorn the same way.

- ``bare``: FastAPI reads the body and validates it as JSON; no database.
- ``naive``: FastAPI inserts the raw body into a table and commits, through psycopg's pool (the
  driver the intake itself uses); nothing else.
- ``naive_sqlalchemy``: the same insert through SQLAlchemy's async engine, for comparison.
- ``service``: the real hotline-api (credential check, parsing, encryption, deduplication, the call
  record, one commit).
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


def bare() -> FastAPI:
    app = FastAPI()

    @app.post("/webhooks/asterisk/{switchboard}/{source}")
    async def receive(switchboard: str, source: str, request: Request) -> Response:
        body = await request.body()
        json.loads(body)
        return Response('{"ok":true}', media_type="application/json")

    return app


def naive_sqlalchemy() -> FastAPI:
    app = FastAPI()
    engine = create_async_engine(os.environ["HOTLINE_DATABASE_URL"], pool_size=10, max_overflow=10)

    @app.post("/webhooks/asterisk/{switchboard}/{source}")
    async def receive(switchboard: str, source: str, request: Request) -> Response:
        body = await request.body()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO naive_events (body) VALUES (:b)"), {"b": body})
        return Response('{"ok":true}', media_type="application/json")

    return app


def service() -> FastAPI:
    from hotline_api.app import create_app
    from hotline_api.observability import configure_logging

    # as in production: JSON access log at info (to stderr, discarded by the benchmark)
    configure_logging(os.environ.get("HOTLINE_LOG_LEVEL", "info"))
    return create_app()


def naive() -> FastAPI:
    """The naive insert through psycopg's own pool, as the intake does."""
    from contextlib import asynccontextmanager

    from psycopg_pool import AsyncConnectionPool

    url = os.environ["HOTLINE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    pool = AsyncConnectionPool(url, min_size=4, max_size=20, open=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await pool.open()
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/webhooks/asterisk/{switchboard}/{source}")
    async def receive(switchboard: str, source: str, request: Request) -> Response:
        body = await request.body()
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO naive_events (body) VALUES (%s)", (body,))
        return Response('{"ok":true}', media_type="application/json")

    return app
