"""create_app(): routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotline_api import apidocs, background, console
from hotline_api.audit.router import router as audit_router
from hotline_api.auth.router import auth_router, users_router
from hotline_api.calls import sweeper
from hotline_api.calls.router import router as calls_router
from hotline_api.cases.codes import router as codes_router
from hotline_api.cases.partners import router as partners_router
from hotline_api.cases.referrals_router import router as referrals_router
from hotline_api.cases.router import router as records_router
from hotline_api.config import Settings, get_settings
from hotline_api.db.migrate import head_revision
from hotline_api.db.session import (
    engine_raw_connection_factory,
    make_engine,
    make_raw_pool,
    make_sessionmaker,
    raw_connection_factory,
)
from hotline_api.errors import install_error_handlers
from hotline_api.fastpath import WebhookFastPath
from hotline_api.observability import WEBHOOK_LAST_EVENT, RequestContextMiddleware, configure_logging
from hotline_api.ops import memory
from hotline_api.ops.router import router as ops_router
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.keys import check_keys, load_or_create_keyring
from hotline_api.reference.models import Switchboard
from hotline_api.reference.router import router as reference_router
from hotline_api.reports import rollup
from hotline_api.reports.router import router as reports_router
from hotline_api.routing.live import LiveHub
from hotline_api.routing.router import route_router
from hotline_api.routing.router import router as routing_router
from hotline_api.telephony.batcher import IntakeBatcher
from hotline_api.telephony.models import WebhookEvent
from hotline_api.telephony.router import admin_router as switchboards_router
from hotline_api.telephony.router import webhooks as webhooks_router
from hotline_api.telephony.ws import router as ari_ws_router

logger = logging.getLogger(__name__)

# Routes that answer without a credential. tests/auth/test_deny_by_default.py walks every other route.
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/api/v1/auth/login",
        "/docs",
        "/openapi.json",
        # the console's files (no data in them) and the redirects to it
        "/",
        "/console",
    }
)


async def load_last_event_times(session: AsyncSession) -> None:
    """Start the per-switchboard "last event" gauge from the database, so that a silent switchboard
    is visible at once after a restart (one index lookup per switchboard)."""
    codes = (await session.scalars(select(Switchboard.code))).all()
    for code in codes:
        # the newest events are at the end of the primary key: a short backward walk
        last = await session.scalar(
            select(WebhookEvent.received_at)
            .where(WebhookEvent.switchboard_code == code)
            .order_by(WebhookEvent.id.desc())
            .limit(1)
        )
        if last is not None:
            WEBHOOK_LAST_EVENT.labels(code).set(max(last.timestamp(), _gauge_value(code)))


def _gauge_value(code: str) -> float:
    for metric in WEBHOOK_LAST_EVENT.collect():
        for sample in metric.samples:
            if sample.labels.get("switchboard") == code:
                return float(sample.value)
    return 0.0


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    keyring: Keyring | None = None,
    on_memory_limit: Callable[[], None] | None = None,
) -> FastAPI:
    """The service. ``on_memory_limit``: how this process ends itself when it grows past
    HOTLINE_MEMORY_LIMIT_MB (hotline_api.ops.memory); None, as in tests: no memory guard."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        if engine is None:
            if not settings.database_url:
                raise RuntimeError(
                    "HOTLINE_DATABASE_URL is not set (`hotline-api serve` sets it for the embedded database)"
                )
            app.state.engine = make_engine(settings.database_url, settings)
        else:
            app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        raw_pool = route_pool = None
        # /route's own connections; None: it shares raw_connection (an app given its engine: tests)
        app.state.route_connection = None
        if own_engine:
            raw_pool = make_raw_pool(str(settings.database_url), settings)
            await raw_pool.open(wait=False)
            app.state.raw_connection = raw_connection_factory(raw_pool)
            route_pool = make_raw_pool(str(settings.database_url), settings, size=settings.db_route_pool_size)
            await route_pool.open(wait=False)
            app.state.route_connection = raw_connection_factory(route_pool)
            # one LISTEN connection per process feeds the live stream
            app.state.live_hub = LiveHub(
                str(settings.database_url).replace("postgresql+psycopg://", "postgresql://", 1),
                app.state.raw_connection,
            )
            app.state.live_hub.start()
        else:
            app.state.raw_connection = engine_raw_connection_factory(app.state.engine)

        if keyring is None:
            app.state.keyring, _ = load_or_create_keyring(settings)
        else:
            app.state.keyring = keyring
        app.state.intake_batcher = IntakeBatcher(lambda: app.state.raw_connection, app.state.keyring)
        # refuse to serve with keys that cannot read the stored data
        async with app.state.sessionmaker() as session:
            await check_keys(session, app.state.keyring)
            await session.commit()
            await load_last_event_times(session)
        try:
            if own_engine:
                # only the real service sweeps; tests call the sweeper themselves
                guard = None
                if on_memory_limit is not None and settings.memory_limit_mb > 0:
                    guard = memory.MemoryGuard(
                        settings.memory_limit_mb, settings.memory_check_seconds, on_memory_limit
                    )
                async with (
                    sweeper.running(
                        app.state.sessionmaker,
                        timedelta(hours=settings.sweep_idle_hours),
                        settings.sweep_interval_seconds,
                    ),
                    rollup.running(app.state.sessionmaker),
                    background.running(guard.run() if guard is not None else None),
                ):
                    yield
            else:
                yield
        finally:
            await app.state.intake_batcher.close()
            if getattr(app.state, "live_hub", None) is not None:
                await app.state.live_hub.stop()
            for pool in (raw_pool, route_pool):
                if pool is not None:
                    await pool.close()
            if own_engine:
                await app.state.engine.dispose()

    app = FastAPI(
        title="hotline-api",
        summary="Contact-centre backend of Vietnam's national anti-trafficking hotline (111, 1800 1567)",
        version="0.1.0",
        lifespan=lifespan,
        # served from this service instead of a CDN: hotline_api.apidocs
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.head_revision = head_revision()
    install_error_handlers(app)
    # innermost first: the fast path runs inside the request context
    app.add_middleware(WebhookFastPath)
    app.add_middleware(RequestContextMiddleware)
    # the webhooks first: routes are tried in order, and theirs are the busiest
    for router in (
        route_router,  # before the webhooks: /{switchboard}/route is not an event source
        ari_ws_router,
        webhooks_router,
        ops_router,
        auth_router,
        users_router,
        reference_router,
        audit_router,
        switchboards_router,
        calls_router,
        routing_router,
        codes_router,
        records_router,
        partners_router,
        referrals_router,
        reports_router,
    ):
        app.include_router(router)
    console.mount(app)
    apidocs.mount(app)
    return app


def app_factory() -> FastAPI:
    """For uvicorn --factory (the processes of ``serve --workers N``): the service with its memory
    guard, which ends the process as SIGTERM would for uvicorn's supervisor to start a new one."""
    settings = get_settings()
    # a worker is a new interpreter: without this its log would be Python's bare last-resort
    # handler, warnings only, not JSON, no request lines
    configure_logging(settings.log_level)
    return create_app(settings, on_memory_limit=memory.terminate_self)
