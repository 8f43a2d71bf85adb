"""``hotline-api report``: the monthly report to the ministry as one XLSX (or CSV) file."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from hotline_api.config import Settings

out = Console()
err = Console(stderr=True)


def report(
    date_from: Annotated[str, typer.Option("--from", help="first local day, e.g. 2026-11-01")],
    date_to: Annotated[str, typer.Option("--to", help="last local day, inclusive")],
    out_path: Annotated[Path, typer.Option("--out", help="report.xlsx or report.csv")] = Path("report.xlsx"),
    region: Annotated[str | None, typer.Option(help="north, central or south")] = None,
    switchboard: Annotated[str | None, typer.Option(help="hanoi, danang or angiang")] = None,
    granularity: Annotated[str, typer.Option(help="day, week, month or year")] = "month",
    analyst: Annotated[
        bool, typer.Option("--suppressed/--full", help="small cells suppressed, as analysts see it (default)")
    ] = True,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="data folder (HOTLINE_DATA_DIR)")
    ] = None,
) -> None:
    """Write every report of a period to one file; the run is audited."""
    from hotline_api.audit import service as audit
    from hotline_api.audit.service import Actor
    from hotline_api.cli_privacy import _run, _settings
    from hotline_api.reports import export
    from hotline_api.reports.router import SECTIONS, workbook_tables
    from hotline_api.reports.service import Filter

    try:
        f = Filter(
            date.fromisoformat(date_from),
            date.fromisoformat(date_to),
            region,
            switchboard,
            None,
            granularity,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        err.print(f"[red]{exc}[/]: dates look like 2026-11-01")
        raise typer.Exit(2) from None
    if f.date_to < f.date_from or granularity not in ("day", "week", "month", "year"):
        err.print("[red]--to is before --from, or --granularity is not day, week, month or year[/]")
        raise typer.Exit(2)
    if region not in (None, "north", "central", "south"):
        err.print("[red]--region must be north, central or south[/]")
        raise typer.Exit(2)
    steps = len(SECTIONS) + (0 if analyst else 1)

    async def work(session: Any, keyring: Any, settings: Settings) -> int:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=out
        ) as progress:
            task = progress.add_task("báo cáo / report", total=steps + 1)
            tables = await workbook_tables(
                session, f, analyst, with_workload=not analyst, step=lambda name: progress.advance(task)
            )
            data = (
                export.csv_bytes(tables, f.describe(), analyst)
                if out_path.suffix.lower() == ".csv"
                else export.xlsx_bytes(tables, f.describe(), analyst)
            )
            out_path.write_bytes(data)
            progress.advance(task)
        await audit.record(session, Actor(label="system:cli"), "run", "report", "export", f.describe())
        return len(tables)

    n = _run(_settings(data_dir), work)
    out.print(
        f"{out_path}: {n} tables, {f.date_from} – {f.date_to}{' (small cells suppressed)' if analyst else ''}"
    )
