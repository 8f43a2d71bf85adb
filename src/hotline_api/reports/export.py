"""Reports as CSV (UTF-8 with BOM, so that Excel shows Vietnamese correctly) and XLSX (a sheet per
table, Vietnamese headers, the filters written on every sheet, native Excel charts for the main
series). Nothing here reads the database: the tables are built from the reports as served."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

OUTCOME_VI = {
    "answered": "Được trả lời",
    "abandoned": "Bỏ máy khi đang chờ",
    "timeout": "Hết thời gian chờ",
    "not_queued": "Kết thúc trước khi chờ",
    "failed": "Không kết nối được",
    "in_progress": "Đang diễn ra",
}
REASON_VI = {
    "overflow_no_counsellor": "Chuyển vì không có tư vấn viên",
    "overflow_wait": "Chuyển vì chờ quá lâu",
    "after_hours": "Ngoài giờ làm việc",
    "wait_limit": "Hết giới hạn chờ",
    "no_transfer_target": "Không có đích chuyển",
}
REGION_VI = {"north": "Miền Bắc", "central": "Miền Trung", "south": "Miền Nam"}
FILTER_VI = {
    "from": "Từ ngày",
    "to": "Đến ngày",
    "region": "Miền",
    "switchboard": "Tổng đài",
    "number": "Số gọi đến",
    "granularity": "Theo",
}
FIGURE_HEADERS = [
    ("calls", "Tổng số cuộc gọi"),
    *[(o, v) for o, v in OUTCOME_VI.items()],
    ("answered_rate", "Tỷ lệ trả lời"),
    ("service_level", "Mức phục vụ (≤ 20 giây)"),
    ("sl2", "Mức phục vụ SL2"),
    ("avg_wait_seconds", "Thời gian chờ trung bình (giây)"),
    ("avg_talk_seconds", "Thời gian đàm thoại trung bình (giây)"),
]
SUPPRESSION_NOTE = (
    'Số từ 1 đến 4 hiển thị là "<5"; "x" là ô ẩn để không suy ra được ô "<5" từ tổng '
    '(1–4 shown as "<5"; "x" hidden so that a "<5" cell cannot be recovered).'
)


@dataclass
class Table:
    sheet: str  # at most 31 characters (Excel)
    title: str
    headers: list[str]
    rows: list[list[Any]]
    # a bar chart of these value columns (0-based, after the first) against the first column
    chart_columns: list[int] = field(default_factory=list)
    chart_title: str = ""


def _label(labels: dict[tuple[str, str], str], list_name: str, code: str) -> str:
    return labels.get((list_name, code), code)


def _figures_row(key: str, figures: Any) -> list[Any]:
    outcomes = {r.key: r.count for r in figures.outcomes}
    values = figures.model_dump()
    return [key, figures.calls, *[outcomes.get(o) for o in OUTCOME_VI]] + [
        values[k] for k, _ in FIGURE_HEADERS[1 + len(OUTCOME_VI) :]
    ]


def _figures_table(
    sheet: str, title: str, first: str, items: list[Any], chart: bool, name_of: Any = str
) -> Table:
    return Table(
        sheet=sheet,
        title=title,
        headers=[first, *[h for _, h in FIGURE_HEADERS]],
        rows=[_figures_row(name_of(p.period), p.figures) for p in items],
        chart_columns=[1, 2, 3] if chart else [],
        chart_title=title,
    )


def _rows_table(
    sheet: str, title: str, rows: list[Any], list_name: str, labels: dict[tuple[str, str], str]
) -> Table:
    return Table(
        sheet=sheet,
        title=title,
        headers=["Mã", "Nội dung", "Số lượng", "Tỷ lệ (%)"],
        rows=[[r.key, _label(labels, list_name, r.key), r.count, r.pct] for r in rows],
        chart_columns=[2],
        chart_title=title,
    )


def tables_of(name: str, report: BaseModel, labels: dict[tuple[str, str], str] | None = None) -> list[Table]:
    labels = labels or {}
    r: Any = report
    if name == "summary":
        f = r.figures
        rows = [[h, v] for (k, h), v in zip(FIGURE_HEADERS, _figures_row("", f)[1:], strict=True)]
        rows += [
            ["Số phiếu ghi nhận cuộc gọi", r.contact_records],
            ["Liên quan đến mua bán người", r.trafficking_related],
            ["Tỷ lệ liên quan đến mua bán người (%)", r.trafficking_related_pct],
            ["Số chuyển tuyến", r.referrals],
        ]
        return [Table("Tổng hợp", "Số liệu tổng hợp", ["Chỉ số", "Giá trị"], rows)]
    if name == "calls":
        return [
            _figures_table("Cuộc gọi theo kỳ", "Cuộc gọi theo kỳ", "Kỳ", r.periods, chart=True),
            _figures_table("Theo tổng đài", "Cuộc gọi theo tổng đài", "Tổng đài", r.switchboards, chart=True),
            _figures_table(
                "Theo miền",
                "Cuộc gọi theo miền",
                "Miền",
                r.regions,
                chart=True,
                name_of=lambda k: REGION_VI.get(k, k),
            ),
        ]
    if name == "contacts":
        titles = {
            "caller_category": ("Người gọi", "Nhóm người gọi", "caller_category"),
            "contact_type": ("Loại cuộc gọi", "Loại cuộc gọi", "contact_type"),
            "trafficking_form": ("Hình thức MBN", "Hình thức mua bán người", "trafficking_form"),
            "destination_country": ("Nước đến", "Quốc gia đến", "country"),
        }
        out = []
        for b in r.breakdowns:
            sheet, title, list_name = titles[b.name]
            out.append(_rows_table(sheet, f"{title} — tất cả phiếu ({b.records})", b.all, list_name, labels))
            out.append(
                _rows_table(
                    f"{sheet} (MBN)"[:31],
                    f"{title} — liên quan đến mua bán người ({b.trafficking_related})",
                    b.trafficking,
                    list_name,
                    labels,
                )
            )
        return out
    if name == "referrals":
        times = [
            ["Số chuyển tuyến", r.referrals],
            ["Thời gian đến khi tiếp nhận, trung bình (giờ)", r.avg_hours_to_acceptance],
            ["Thời gian đến khi tiếp nhận, trung vị (giờ)", r.median_hours_to_acceptance],
            ["Thời gian đến khi hoàn thành, trung bình (giờ)", r.avg_hours_to_completion],
            ["Thời gian đến khi hoàn thành, trung vị (giờ)", r.median_hours_to_completion],
        ]
        return [
            Table("Chuyển tuyến", "Chuyển tuyến", ["Chỉ số", "Giá trị"], times),
            _rows_table("Loại chuyển tuyến", "Theo loại chuyển tuyến", r.by_type, "referral_type", labels),
            _rows_table("Loại đối tác", "Theo loại đối tác", r.by_partner_kind, "partner_kind", labels),
            _rows_table("Trạng thái", "Theo trạng thái", r.by_status, "referral_status", labels),
            _rows_table("Kết quả", "Theo kết quả", r.by_outcome, "referral_outcome", labels),
        ]
    if name == "routing":
        reasons = Table(
            "Điều phối",
            "Cuộc gọi được chuyển hoặc xếp hàng",
            ["Mã", "Lý do", "Số cuộc gọi", "Tỷ lệ (%)"],
            [[x.key, REASON_VI.get(x.key, x.key), x.count, x.pct] for x in r.reasons],
            chart_columns=[2],
            chart_title="Lý do chuyển",
        )
        waits = _figures_table(
            "Chờ theo miền",
            "Thời gian chờ theo miền của người gọi",
            "Miền",
            r.regions,
            chart=False,
            name_of=lambda k: REGION_VI.get(k, k),
        )
        return [reasons, waits]
    if name == "workload":
        return [
            Table(
                "Khối lượng công việc",
                "Khối lượng công việc của tư vấn viên",
                [
                    "Tên đăng nhập",
                    "Họ tên",
                    "Tổng đài",
                    "Cuộc gọi trả lời",
                    "Giờ đàm thoại",
                    "Cuộc gọi nhỡ",
                    "Phiếu ghi nhận",
                ],
                [
                    [
                        c.username,
                        c.display_name,
                        c.switchboard,
                        c.answered,
                        c.talk_hours,
                        c.missed_offers,
                        c.contact_records,
                    ]
                    for c in r.counsellors
                ],
                chart_columns=[3],
                chart_title="Cuộc gọi trả lời",
            )
        ]
    raise ValueError(f"no export for {name}")


def _filter_lines(filters: dict[str, str]) -> list[list[str]]:
    return [[FILTER_VI.get(k, k), REGION_VI.get(v, v) if k == "region" else v] for k, v in filters.items()]


def csv_bytes(tables: list[Table], filters: dict[str, str], suppressed: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["Báo cáo đường dây nóng 111 / Hotline report"])
    for line in _filter_lines(filters):
        w.writerow(line)
    w.writerow(["Lập lúc (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M")])
    if suppressed:
        w.writerow([SUPPRESSION_NOTE])
    for t in tables:
        w.writerow([])
        w.writerow([t.title])
        w.writerow(t.headers)
        for row in t.rows:
            w.writerow(["" if v is None else v for v in row])
    # UTF-8 with BOM: Excel then reads the diacritics right
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_bytes(tables: list[Table], filters: dict[str, str], suppressed: bool) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    wb = Workbook()
    info = wb.active
    assert info is not None
    info.title = "Bộ lọc"
    info.append(["Báo cáo đường dây nóng 111 / Hotline report"])
    info["A1"].font = Font(bold=True, size=14)
    for line in _filter_lines(filters):
        info.append(line)
    info.append(["Lập lúc (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M")])
    if suppressed:
        info.append([SUPPRESSION_NOTE])
    info.column_dimensions["A"].width = 28
    info.column_dimensions["B"].width = 24
    used: set[str] = {info.title}
    described = "; ".join(f"{FILTER_VI.get(k, k)}: {v}" for k, v in filters.items())
    for t in tables:
        name = t.sheet[:31]
        n = 2
        while name in used:
            name = f"{t.sheet[:28]} {n}"
            n += 1
        used.add(name)
        ws = wb.create_sheet(name)
        ws.append([t.title])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([described])
        ws.append([])
        ws.append(t.headers)
        for cell in ws[4]:
            cell.font = Font(bold=True)
        for row in t.rows:
            ws.append(row)
        for i, _ in enumerate(t.headers):
            ws.column_dimensions[chr(ord("A") + i) if i < 26 else "Z"].width = 16 if i else 26
        if t.chart_columns and t.rows:
            chart = BarChart()
            chart.title = t.chart_title
            chart.y_axis.title = "Số lượng"
            last = 4 + len(t.rows)
            for col in t.chart_columns:
                data = Reference(ws, min_col=col + 1, min_row=4, max_row=last)
                chart.add_data(data, titles_from_data=True)
            chart.set_categories(Reference(ws, min_col=1, min_row=5, max_row=last))
            chart.width, chart.height = 22, 10
            ws.add_chart(chart, f"A{last + 3}")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _filename(name: str, filters: dict[str, str], ext: str) -> str:
    return f"hotline-{name}-{filters.get('from', '')}-{filters.get('to', '')}.{ext}"


def csv_response(
    tables: list[Table], filters: dict[str, str], name: str, suppressed: bool = False
) -> Response:
    return Response(
        csv_bytes(tables, filters, suppressed),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(name, filters, "csv")}"'},
    )


def xlsx_response(
    tables: list[Table], filters: dict[str, str], name: str, suppressed: bool = False
) -> Response:
    return Response(
        xlsx_bytes(tables, filters, suppressed),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{_filename(name, filters, "xlsx")}"'},
    )
