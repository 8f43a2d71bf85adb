"""Reports over HTTP: aggregates only, small cells suppressed for analysts, every run audited."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit import service as audit
from hotline_api.auth.deps import actor_of, require_roles
from hotline_api.auth.service import Principal
from hotline_api.db.session import SessionDep
from hotline_api.errors import Forbidden, Unprocessable, error_responses
from hotline_api.reports import rollup, service
from hotline_api.reports.suppression import Cell, Count, is_small, suppress_count, suppress_table

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
# with ?format=csv or xlsx a report answers a file (the JSON form is the response model)
FILE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        }
    }
}
Reader = Annotated[Principal, Depends(require_roles("analyst", "supervisor", "national_supervisor"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "national_supervisor"))]
MAX_DAYS = 366 * 25


async def report_filter(
    date_from: Annotated[date, Query(description="first local day (Asia/Ho_Chi_Minh), e.g. 2026-11-01")],
    date_to: Annotated[date, Query(description="last local day, inclusive")],
    region: Annotated[Literal["north", "central", "south"] | None, Query()] = None,
    switchboard: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = None,
    number: Annotated[
        str | None, Query(pattern=r"^[0-9]{3,15}$", description="dialled: 111 or 18001567")
    ] = None,
    granularity: Annotated[Literal["day", "week", "month", "year"], Query()] = "month",
) -> service.Filter:
    if date_to < date_from:
        raise Unprocessable("date_to is before date_from", field="date_to")
    if (date_to - date_from).days > MAX_DAYS:
        raise Unprocessable("the period is longer than 25 years", field="date_to")
    return service.Filter(date_from, date_to, region, switchboard, number, granularity)


FilterDep = Annotated[service.Filter, Depends(report_filter)]
FormatQ = Annotated[
    Literal["json", "csv", "xlsx"],
    Query(description="json; csv (UTF-8 with BOM, for Excel); xlsx (a sheet per table, charts)"),
]


async def code_labels(session: AsyncSession) -> dict[tuple[str, str], str]:
    from hotline_api.cases.models import Code

    rows = (await session.execute(select(Code.list_name, Code.code, Code.label_vi))).all()
    return {(lst, code): label for lst, code, label in rows}


async def formatted(session: AsyncSession, report: BaseModel, name: str, fmt: str) -> Any:
    if fmt == "json":
        return report
    from hotline_api.reports import export

    tables = export.tables_of(name, report, await code_labels(session))
    filters = getattr(report, "filters", {})
    hidden = bool(getattr(report, "suppressed", False))
    if fmt == "csv":
        return export.csv_response(tables, filters, name, hidden)
    return export.xlsx_response(tables, filters, name, hidden)


def scoped(p: Principal, f: service.Filter) -> service.Filter:
    """Supervisors report on their switchboard; analysts and national supervisors on any."""
    if p.has("analyst", "national_supervisor"):
        return f
    if f.switchboard not in (None, p.home_switchboard):
        raise Forbidden(f"a supervisor reports on their own switchboard ({p.home_switchboard})")
    return service.Filter(f.date_from, f.date_to, f.region, p.home_switchboard, f.number, f.granularity)


def suppressing(p: Principal) -> bool:
    """Analysts see small cells suppressed; supervisors see their own switchboard's figures whole."""
    return p.has("analyst") and not p.has("supervisor", "national_supervisor")


async def _audit(session: Any, p: Principal, request: Request, name: str, f: service.Filter) -> None:
    await audit.record(session, actor_of(p, request), "run", "report", name, f.describe())


class Row(BaseModel):
    key: str
    count: Count
    pct: float | None = None


class Figures(BaseModel):
    calls: Count
    outcomes: list[Row]
    answered_rate: float | None
    service_level: float | None
    sl2: float | None
    avg_wait_seconds: float | None
    avg_talk_seconds: float | None


def figures_out(fig: service.CallFigures, hide: bool) -> Figures:
    cells = [
        Cell(o, fig.outcomes.get(o, 0), service.pct(fig.outcomes.get(o, 0), fig.calls))
        for o in service.OUTCOMES
    ]
    rows = suppress_table(cells) if hide else [(c.key, c.count, c.pct) for c in cells]
    rates = fig.rates()
    if hide and any(is_small(n) for n in (fig.waited, fig.outcomes.get("answered", 0))):
        rates = dict.fromkeys(rates)  # rates of fewer than 5 calls would give the counts away
    return Figures(
        calls=suppress_count(fig.calls) if hide else fig.calls,
        outcomes=[Row(key=k, count=n, pct=q) for k, n, q in rows],
        **rates,
    )


class Summary(BaseModel):
    filters: dict[str, str]
    suppressed: bool
    figures_as_of: datetime | None = Field(
        description="the calls' figures are as of this refresh (≤ 40 s old)"
    )
    figures: Figures
    contact_records: Count
    trafficking_related: Count
    trafficking_related_pct: float | None
    referrals: Count


async def build_summary(session: AsyncSession, f: service.Filter, hide: bool) -> Summary:
    fig = await service.call_figures(session, f)
    records, related = await service.record_counts(session, f)
    referrals = (await service.referral_times(session, f))["referrals"]
    small = hide and (is_small(records) or is_small(related))
    return Summary(
        filters=f.describe(),
        suppressed=hide,
        figures_as_of=await rollup.refreshed_at(session),
        figures=figures_out(fig, hide),
        contact_records=suppress_count(records) if hide else records,
        trafficking_related=suppress_count(related) if hide else related,
        trafficking_related_pct=None if small else service.pct(related, records),
        referrals=suppress_count(int(referrals or 0)) if hide else int(referrals or 0),
    )


@router.get(
    "/summary",
    response_model=Summary,
    responses={**FILE_ANSWERS, **error_responses(401, 403, 422)},
    summary="The headline figures of a period",
)
async def summary(
    f: FilterDep, p: Reader, request: Request, session: SessionDep, format: FormatQ = "json"
) -> Any:
    f = scoped(p, f)
    report = await build_summary(session, f, suppressing(p))
    await _audit(session, p, request, "summary", f)
    return await formatted(session, report, "summary", format)


class Period(BaseModel):
    period: str
    figures: Figures


class CallsReport(BaseModel):
    filters: dict[str, str]
    suppressed: bool
    figures_as_of: datetime | None
    periods: list[Period]
    switchboards: list[Period]
    regions: list[Period]


async def build_calls(session: AsyncSession, f: service.Filter, hide: bool) -> CallsReport:
    series = await service.call_series(session, f)
    boards = await service.call_figures_by_switchboard(session, f)
    regions = await service.call_figures_by_switchboard(session, f, region=True)
    return CallsReport(
        filters=f.describe(),
        suppressed=hide,
        figures_as_of=await rollup.refreshed_at(session),
        periods=[Period(period=k, figures=figures_out(v, hide)) for k, v in series],
        switchboards=[Period(period=k, figures=figures_out(v, hide)) for k, v in boards],
        regions=[Period(period=k, figures=figures_out(v, hide)) for k, v in regions],
    )


@router.get(
    "/calls",
    response_model=CallsReport,
    responses={**FILE_ANSWERS, **error_responses(401, 403, 422)},
    summary="Call volumes, outcomes, answered rate, service levels, waits, per period, switchboard and region",
)
async def calls(
    f: FilterDep, p: Reader, request: Request, session: SessionDep, format: FormatQ = "json"
) -> Any:
    f = scoped(p, f)
    report = await build_calls(session, f, suppressing(p))
    await _audit(session, p, request, "calls", f)
    return await formatted(session, report, "calls", format)


class Breakdown(BaseModel):
    name: str
    records: Count
    trafficking_related: Count
    all: list[Row]
    trafficking: list[Row]


class ContactsReport(BaseModel):
    filters: dict[str, str]
    suppressed: bool
    breakdowns: list[Breakdown]


def _rows(cells: list[Cell], hide: bool, total_shown: bool) -> list[Row]:
    rows = suppress_table(cells, total_shown) if hide else [(c.key, c.count, c.pct) for c in cells]
    return [Row(key=k, count=n, pct=q) for k, n, q in rows]


async def build_contacts(session: AsyncSession, f: service.Filter, hide: bool) -> ContactsReport:
    out = []
    for name in service.BREAKDOWNS:
        items, records, related = await service.breakdown(session, f, name)
        # categories and types add up to the records; forms and countries do not (several per record)
        total_shown = name in ("caller_category", "contact_type")
        out.append(
            Breakdown(
                name=name,
                records=suppress_count(records) if hide else records,
                trafficking_related=suppress_count(related) if hide else related,
                all=_rows([Cell(c, n, service.pct(n, records)) for c, n, _ in items], hide, total_shown),
                trafficking=_rows(
                    [Cell(c, t, service.pct(t, related)) for c, _, t in items if t], hide, total_shown
                ),
            )
        )
    return ContactsReport(filters=f.describe(), suppressed=hide, breakdowns=out)


@router.get(
    "/contacts",
    response_model=ContactsReport,
    responses={**FILE_ANSWERS, **error_responses(401, 403, 422)},
    summary="Caller categories, contact types, trafficking forms, destination countries: counts and percentages",
)
async def contacts(
    f: FilterDep, p: Reader, request: Request, session: SessionDep, format: FormatQ = "json"
) -> Any:
    f = scoped(p, f)
    report = await build_contacts(session, f, suppressing(p))
    await _audit(session, p, request, "contacts", f)
    return await formatted(session, report, "contacts", format)


class ReferralsReport(BaseModel):
    filters: dict[str, str]
    suppressed: bool
    referrals: Count
    by_type: list[Row]
    by_partner_kind: list[Row]
    by_status: list[Row]
    by_outcome: list[Row]
    avg_hours_to_acceptance: float | None
    median_hours_to_acceptance: float | None
    avg_hours_to_completion: float | None
    median_hours_to_completion: float | None


async def build_referrals(session: AsyncSession, f: service.Filter, hide: bool) -> ReferralsReport:
    times = await service.referral_times(session, f)
    total = int(times.pop("referrals") or 0)

    async def by(key_sql: str, total_shown: bool = True) -> list[Row]:
        items = await service.referral_counts(session, f, key_sql)
        return _rows([Cell(k, n, service.pct(n, total)) for k, n in items], hide, total_shown)

    report = ReferralsReport(
        filters=f.describe(),
        suppressed=hide,
        referrals=suppress_count(total) if hide else total,
        by_type=await by("x.referral_type"),
        by_partner_kind=await by("pa.kind"),
        by_status=await by("x.status"),
        by_outcome=await by("x.outcome", total_shown=False),
        **({k: None for k in times} if hide and is_small(total) else times),
    )
    return report


@router.get(
    "/referrals",
    response_model=ReferralsReport,
    responses={**FILE_ANSWERS, **error_responses(401, 403, 422)},
    summary="Referrals by type, partner kind, status and outcome; time to acceptance and to completion",
)
async def referrals(
    f: FilterDep, p: Reader, request: Request, session: SessionDep, format: FormatQ = "json"
) -> Any:
    f = scoped(p, f)
    report = await build_referrals(session, f, suppressing(p))
    await _audit(session, p, request, "referrals", f)
    return await formatted(session, report, "referrals", format)


class RoutingReport(BaseModel):
    filters: dict[str, str]
    suppressed: bool
    reasons: list[Row]
    regions: list[Period]


async def build_routing(session: AsyncSession, f: service.Filter, hide: bool) -> RoutingReport:
    fig = await service.call_figures(session, f)
    reasons = await service.routing_reasons(session, f)
    regions = await service.call_figures_by(
        session,
        f,
        "COALESCE(c.caller_region, (SELECT s.region FROM switchboards s WHERE s.code = c.switchboard_code))",
    )
    return RoutingReport(
        filters=f.describe(),
        suppressed=hide,
        reasons=_rows([Cell(k, n, service.pct(n, fig.calls)) for k, n in reasons], hide, total_shown=False),
        regions=[Period(period=k, figures=figures_out(v, hide)) for k, v in regions],
    )


@router.get(
    "/routing",
    response_model=RoutingReport,
    responses={**FILE_ANSWERS, **error_responses(401, 403, 422)},
    summary="Overflows, after-hours calls and waits by region",
)
async def routing(
    f: FilterDep, p: Reader, request: Request, session: SessionDep, format: FormatQ = "json"
) -> Any:
    f = scoped(p, f)
    report = await build_routing(session, f, suppressing(p))
    await _audit(session, p, request, "routing", f)
    return await formatted(session, report, "routing", format)


class WorkloadRow(BaseModel):
    user_id: int
    username: str
    display_name: str
    switchboard: str
    answered: int
    talk_hours: float
    missed_offers: int
    contact_records: int


class WorkloadReport(BaseModel):
    filters: dict[str, str]
    counsellors: list[WorkloadRow]


@router.get(
    "/workload",
    response_model=WorkloadReport,
    responses={**FILE_ANSWERS, **error_responses(401, 403, 422)},
    summary="Counsellors' workload (supervisors only: it names people)",
)
async def workload(
    f: FilterDep, p: Supervisor, request: Request, session: SessionDep, format: FormatQ = "json"
) -> Any:
    f = scoped(p, f)
    report = await build_workload(session, f)
    await _audit(session, p, request, "workload", f)
    return await formatted(session, report, "workload", format)


async def build_workload(session: AsyncSession, f: service.Filter) -> WorkloadReport:
    rows = await service.workload(session, f)
    return WorkloadReport(filters=f.describe(), counsellors=[WorkloadRow(**r) for r in rows])


SECTIONS = ("summary", "calls", "contacts", "referrals", "routing")


async def build_section(session: AsyncSession, name: str, f: service.Filter, hide: bool) -> BaseModel:
    builders: dict[str, Any] = {
        "summary": build_summary,
        "calls": build_calls,
        "contacts": build_contacts,
        "referrals": build_referrals,
        "routing": build_routing,
    }
    report: BaseModel = await builders[name](session, f, hide)
    return report


async def workbook_tables(
    session: AsyncSession, f: service.Filter, hide: bool, with_workload: bool, step: Any = None
) -> list[Any]:
    """Every report's tables, in order (the monthly report to the ministry)."""
    from hotline_api.reports import export

    labels = await code_labels(session)
    tables: list[Any] = []
    for name in SECTIONS:
        tables += export.tables_of(name, await build_section(session, name, f, hide), labels)
        if step:
            step(name)
    if with_workload:
        tables += export.tables_of("workload", await build_workload(session, f), labels)
        if step:
            step("workload")
    return tables


@router.get(
    "/export",
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        },
        **error_responses(401, 403, 422),
    },
    summary="Every report in one file: XLSX (a sheet per table, charts) or CSV",
)
async def export_all(
    f: FilterDep,
    p: Reader,
    request: Request,
    session: SessionDep,
    format: Annotated[Literal["xlsx", "csv"], Query()] = "xlsx",
) -> Any:
    from hotline_api.reports import export

    f = scoped(p, f)
    hide = suppressing(p)
    tables = await workbook_tables(
        session, f, hide, with_workload=not hide and p.has("supervisor", "national_supervisor")
    )
    await _audit(session, p, request, "export", f)
    if format == "csv":
        return export.csv_response(tables, f.describe(), "report", hide)
    return export.xlsx_response(tables, f.describe(), "report", hide)
