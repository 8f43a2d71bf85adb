// The reports dashboard (docs/console.md, "Reports dashboard"; the figures of docs/reports.md): for a
// period and a part of the country, the headline figures, calls over time, outcomes, caller
// categories, contact types, forms of trafficking, destination countries, referrals and routing,
// each as a chart and its table; the workload for supervisors; the same filters as CSV or XLSX.
// Analysts get small cells suppressed by the server ("<5", "x"): they are shown as sent, never as
// numbers. One change of the filters = one fetch per report, all in parallel.
import { ApiError, get, query } from "./api.js";
import { barChart, columnChart } from "./charts.js";
import { addStrings, label, lang, t } from "./i18n.js";
import { clear, field, fmtDateTime, fmtDuration, fmtNumber, fmtPercent, h, localDate, table } from "./ui.js";

addStrings({
  vi: {
    "an.title": "Báo cáo thống kê",
    "an.filters": "Bộ lọc báo cáo",
    "an.from": "Từ ngày",
    "an.to": "Đến ngày",
    "an.area": "Khu vực",
    "an.area.all": "Toàn quốc",
    "an.area.regions": "Theo miền (tổng đài tiếp nhận)",
    "an.area.boards": "Theo tổng đài",
    "an.number": "Số gọi đến",
    "an.number.all": "Tất cả các số",
    "an.granularity": "Gộp theo",
    "an.granularity.day": "Ngày",
    "an.granularity.week": "Tuần (thứ Hai – Chủ nhật)",
    "an.granularity.month": "Tháng",
    "an.granularity.year": "Năm",
    "an.show": "Xem báo cáo",
    "an.csv": "Tải CSV",
    "an.xlsx": "Tải XLSX",
    "an.downloads": "Tải về cùng bộ lọc",
    "an.downloads.hint": "Tất cả các bảng của báo cáo, theo đúng bộ lọc đang xem.",
    "an.error.dates": "Chọn ngày bắt đầu và ngày kết thúc.",
    "an.error.order": "Ngày kết thúc phải từ ngày bắt đầu trở đi.",
    "an.loading": "Đang tải số liệu…",
    "an.period": "{from} – {to}",
    "an.as_of": "Số liệu cuộc gọi tính đến {t} (cập nhật khoảng 20 giây một lần).",
    "an.none": "Không có cuộc gọi nào trong khoảng thời gian và khu vực này.",
    "an.legend.title": "Số liệu được bảo vệ",
    "an.legend.small": "số từ 1 đến 4 (cuộc gọi, phiếu, chuyển tuyến); tỷ lệ của ô đó không hiển thị",
    "an.legend.hidden": "ô được ẩn thêm, để không suy ra được ô “<5” bằng phép trừ từ tổng",
    "an.legend.rate": "không tính: dưới 5 cuộc gọi, hoặc không có số liệu",
    "an.headline": "Số liệu tổng hợp",
    "an.tile.calls": "Tổng số cuộc gọi",
    "an.tile.answered": "Đã trả lời",
    "an.tile.answered_rate": "Tỷ lệ trả lời",
    "an.tile.service_level": "Mức phục vụ (trả lời ≤ 20 giây)",
    "an.tile.sl2": "Mức phục vụ SL2",
    "an.tile.abandoned": "Bỏ máy khi đang chờ",
    "an.tile.avg_wait": "Chờ trung bình (phút:giây)",
    "an.tile.avg_talk": "Đàm thoại trung bình (phút:giây)",
    "an.tile.records": "Phiếu ghi nhận cuộc gọi",
    "an.tile.related": "Liên quan đến mua bán người",
    "an.tile.related_pct": "{p} số phiếu",
    "an.tile.referrals": "Chuyển tuyến",
    "an.series.answered": "Đã trả lời",
    "an.series.abandoned": "Bỏ máy khi đang chờ",
    "an.series.other": "Khác (hết giờ chờ, kết thúc trước khi chờ, không kết nối)",
    "an.series.calls": "Số cuộc gọi",
    "an.series.records": "Tất cả phiếu",
    "an.series.related": "Liên quan đến mua bán người",
    "an.series.count": "Số lượng",
    "an.series.wait": "Chờ trung bình (giây)",
    "an.calls.title": "Cuộc gọi theo thời gian",
    "an.calls.table": "Cuộc gọi theo kỳ",
    "an.outcomes.title": "Kết quả cuộc gọi",
    "an.boards.title": "Theo tổng đài và theo miền",
    "an.boards.chart": "Cuộc gọi theo tổng đài tiếp nhận",
    "an.boards.table": "Cuộc gọi theo tổng đài tiếp nhận",
    "an.regions.table": "Cuộc gọi theo miền (của tổng đài tiếp nhận)",
    "an.contacts.title": "Phiếu ghi nhận cuộc gọi",
    "an.contacts.intro": "Tỷ lệ tính trên số phiếu ghi nhận; một phiếu có thể nêu nhiều hình thức, một vụ việc nhiều nước đến, nên tổng tỷ lệ có thể hơn 100 %.",
    "an.contacts.totals": "Tất cả phiếu: {all}; liên quan đến mua bán người: {related}",
    "an.b.caller_category": "Nhóm người gọi",
    "an.b.contact_type": "Loại cuộc gọi",
    "an.b.trafficking_form": "Hình thức mua bán người",
    "an.b.destination_country": "Quốc gia đến",
    "an.referrals.title": "Chuyển tuyến",
    "an.referrals.count": "Số chuyển tuyến trong kỳ",
    "an.referrals.acceptance": "Từ lúc gửi đến khi được tiếp nhận",
    "an.referrals.completion": "Từ lúc gửi đến khi hoàn thành",
    "an.referrals.avg_median": "trung bình {a} · trung vị {m}",
    "an.referrals.by_type": "Theo loại chuyển tuyến",
    "an.referrals.by_partner_kind": "Theo loại đối tác",
    "an.referrals.by_status": "Theo trạng thái",
    "an.referrals.by_outcome": "Theo kết quả",
    "an.routing.title": "Điều phối cuộc gọi",
    "an.routing.reasons": "Cuộc gọi được chuyển hoặc xếp hàng, theo lý do",
    "an.routing.waits": "Thời gian chờ theo miền của người gọi",
    "an.routing.waits.chart": "Thời gian chờ trung bình theo miền của người gọi (giây)",
    "an.workload.title": "Khối lượng công việc của tư vấn viên",
    "an.workload.note": "Chỉ giám sát viên xem được bảng này vì có tên người.",
    "an.col.period": "Kỳ",
    "an.col.board": "Tổng đài",
    "an.col.region": "Miền",
    "an.col.caller_region": "Miền của người gọi",
    "an.col.calls": "Cuộc gọi",
    "an.col.answered_rate": "Tỷ lệ trả lời",
    "an.col.sl": "SL (≤ 20 giây)",
    "an.col.sl2": "SL2",
    "an.col.wait": "Chờ TB",
    "an.col.talk": "Đàm thoại TB",
    "an.col.item": "Nội dung",
    "an.col.count": "Số lượng",
    "an.col.pct": "Tỷ lệ (%)",
    "an.col.records": "Số phiếu",
    "an.col.related": "Liên quan MBN",
    "an.col.reason": "Lý do",
    "an.col.outcome": "Kết quả",
    "an.col.counsellor": "Tư vấn viên",
    "an.col.username": "Tên đăng nhập",
    "an.col.answered": "Cuộc gọi trả lời",
    "an.col.talk_hours": "Giờ đàm thoại",
    "an.col.missed": "Lần đổ chuông không nhấc máy",
    "an.col.records_written": "Phiếu đã ghi",
    "an.hours": "{h} giờ",
    "an.week": "Tuần {w}/{y}",
    "an.week.tick": "T{w}",
    "an.month": "Tháng {m}/{y}",
    "an.unknown": "Không rõ",
    "an.reason.overflow_no_counsellor": "Chuyển vùng vì không có tư vấn viên",
    "an.reason.overflow_wait": "Chuyển vùng vì chờ quá lâu",
    "an.reason.after_hours": "Ngoài giờ làm việc",
    "an.reason.wait_limit": "Hết giới hạn chờ",
    "an.reason.no_transfer_target": "Không có nơi chuyển",
    "an.outcome.answered": "Được trả lời",
    "an.outcome.abandoned": "Bỏ máy khi đang chờ",
    "an.outcome.timeout": "Hết thời gian chờ",
    "an.outcome.not_queued": "Kết thúc trước khi chờ",
    "an.outcome.failed": "Không kết nối được",
    "an.outcome.in_progress": "Đang diễn ra",
  },
  en: {
    "an.title": "Reports",
    "an.filters": "Report filters",
    "an.from": "From",
    "an.to": "To",
    "an.area": "Area",
    "an.area.all": "The whole country",
    "an.area.regions": "By region (receiving switchboard)",
    "an.area.boards": "By switchboard",
    "an.number": "Number dialled",
    "an.number.all": "All numbers",
    "an.granularity": "Group by",
    "an.granularity.day": "Day",
    "an.granularity.week": "Week (Monday – Sunday)",
    "an.granularity.month": "Month",
    "an.granularity.year": "Year",
    "an.show": "Show the report",
    "an.csv": "Download CSV",
    "an.xlsx": "Download XLSX",
    "an.downloads": "Download with the same filters",
    "an.downloads.hint": "Every table of the report, with the filters shown.",
    "an.error.dates": "Choose a first and a last day.",
    "an.error.order": "The last day must not be before the first.",
    "an.loading": "Loading the figures…",
    "an.period": "{from} – {to}",
    "an.as_of": "Call figures as of {t} (refreshed about every 20 seconds).",
    "an.none": "No calls in this period and area.",
    "an.legend.title": "Protected figures",
    "an.legend.small": "a count from 1 to 4 (calls, records, referrals); its percentage is not shown",
    "an.legend.hidden": "a further hidden cell, so that a “<5” cannot be recovered by subtracting from the total",
    "an.legend.rate": "not computed: fewer than 5 calls, or no figures",
    "an.headline": "Headline figures",
    "an.tile.calls": "Calls",
    "an.tile.answered": "Answered",
    "an.tile.answered_rate": "Answered rate",
    "an.tile.service_level": "Service level (answered ≤ 20 s)",
    "an.tile.sl2": "Service level SL2",
    "an.tile.abandoned": "Abandoned while waiting",
    "an.tile.avg_wait": "Average wait (min:s)",
    "an.tile.avg_talk": "Average talk (min:s)",
    "an.tile.records": "Contact records",
    "an.tile.related": "Trafficking-related",
    "an.tile.related_pct": "{p} of the records",
    "an.tile.referrals": "Referrals",
    "an.series.answered": "Answered",
    "an.series.abandoned": "Abandoned while waiting",
    "an.series.other": "Other (timed out, ended before waiting, failed)",
    "an.series.calls": "Calls",
    "an.series.records": "All records",
    "an.series.related": "Trafficking-related",
    "an.series.count": "Count",
    "an.series.wait": "Average wait (seconds)",
    "an.calls.title": "Calls over time",
    "an.calls.table": "Calls per period",
    "an.outcomes.title": "Call outcomes",
    "an.boards.title": "By switchboard and by region",
    "an.boards.chart": "Calls by receiving switchboard",
    "an.boards.table": "Calls by receiving switchboard",
    "an.regions.table": "Calls by region (of the receiving switchboard)",
    "an.contacts.title": "Contact records",
    "an.contacts.intro": "Percentages are of the contact records; a record may name several forms and a case several countries, so they may add up to more than 100 %.",
    "an.contacts.totals": "All records: {all}; trafficking-related: {related}",
    "an.b.caller_category": "Caller categories",
    "an.b.contact_type": "Contact types",
    "an.b.trafficking_form": "Forms of trafficking",
    "an.b.destination_country": "Destination countries",
    "an.referrals.title": "Referrals",
    "an.referrals.count": "Referrals made in the period",
    "an.referrals.acceptance": "From sending to acceptance",
    "an.referrals.completion": "From sending to completion",
    "an.referrals.avg_median": "average {a} · median {m}",
    "an.referrals.by_type": "By referral type",
    "an.referrals.by_partner_kind": "By partner kind",
    "an.referrals.by_status": "By status",
    "an.referrals.by_outcome": "By outcome",
    "an.routing.title": "Call routing",
    "an.routing.reasons": "Calls sent elsewhere or queued, by reason",
    "an.routing.waits": "Waits by the caller's region",
    "an.routing.waits.chart": "Average wait by the caller's region (seconds)",
    "an.workload.title": "Counsellors' workload",
    "an.workload.note": "Only supervisors see this table: it names people.",
    "an.col.period": "Period",
    "an.col.board": "Switchboard",
    "an.col.region": "Region",
    "an.col.caller_region": "Caller's region",
    "an.col.calls": "Calls",
    "an.col.answered_rate": "Answered rate",
    "an.col.sl": "SL (≤ 20 s)",
    "an.col.sl2": "SL2",
    "an.col.wait": "Avg wait",
    "an.col.talk": "Avg talk",
    "an.col.item": "Item",
    "an.col.count": "Count",
    "an.col.pct": "Share (%)",
    "an.col.records": "Records",
    "an.col.related": "Trafficking-related",
    "an.col.reason": "Reason",
    "an.col.outcome": "Outcome",
    "an.col.counsellor": "Counsellor",
    "an.col.username": "User name",
    "an.col.answered": "Calls answered",
    "an.col.talk_hours": "Talk hours",
    "an.col.missed": "Offers not picked up",
    "an.col.records_written": "Records written",
    "an.hours": "{h} h",
    "an.week": "Week {w}, {y}",
    "an.week.tick": "W{w}",
    "an.month": "{m}/{y}",
    "an.unknown": "Unknown",
    "an.reason.overflow_no_counsellor": "Overflowed: no counsellor",
    "an.reason.overflow_wait": "Overflowed: waited too long",
    "an.reason.after_hours": "Outside opening hours",
    "an.reason.wait_limit": "Wait limit reached",
    "an.reason.no_transfer_target": "Nowhere to send it",
    "an.outcome.answered": "Answered",
    "an.outcome.abandoned": "Abandoned while waiting",
    "an.outcome.timeout": "Timed out",
    "an.outcome.not_queued": "Ended before waiting",
    "an.outcome.failed": "Failed",
    "an.outcome.in_progress": "In progress",
  },
});

const BOARDS = ["hanoi", "danang", "angiang"];
const REGIONS = ["north", "central", "south"];
const NUMBERS = [
  { value: "111", text: "111" },
  { value: "18001567", text: "1800 1567" },
];
const GRANULARITIES = ["day", "week", "month", "year"];
const OUTCOMES = ["answered", "abandoned", "timeout", "not_queued", "failed", "in_progress"];
const BREAKDOWN_LISTS = {
  caller_category: "caller_category",
  contact_type: "contact_type",
  trafficking_form: "trafficking_form",
  destination_country: null, // ISO 3166 codes, named by the browser (Intl.DisplayNames)
};

// the filters last shown, per user: kept across a language switch (the screen is mounted again)
let remembered = null;

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const pct = (v) => (v === null || v === undefined ? "—" : `${fmtNumber(v, 2)}`);
const hours = (v) => (v === null || v === undefined ? "—" : t("an.hours", { h: fmtNumber(v, 1) }));

function fmtDay(iso) {
  const [y, m, d] = iso.split("-");
  return `${d}/${m}/${y}`;
}

// a period label from the server ("2026-11-03", "2026-W48", "2026-11", "2026") for tables and ticks
function periodLabel(key, granularity) {
  if (granularity === "day" && /^\d{4}-\d{2}-\d{2}$/.test(key)) {
    const [, m, d] = key.split("-");
    return { label: fmtDay(key), tick: `${Number(d)}/${Number(m)}` };
  }
  if (granularity === "week" && /^\d{4}-W\d{2}$/.test(key)) {
    const [y, w] = key.split("-W");
    return { label: t("an.week", { w, y }), tick: t("an.week.tick", { w }) };
  }
  if (granularity === "month" && /^\d{4}-\d{2}$/.test(key)) {
    const [y, m] = key.split("-");
    const text =
      lang() === "en"
        ? new Date(Date.UTC(Number(y), Number(m) - 1, 1)).toLocaleDateString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" })
        : t("an.month", { m: Number(m), y });
    return { label: text, tick: `${m}/${y}` };
  }
  return { label: key, tick: key };
}

// every period of the filter, in order, as the server labels them: a period without calls has no
// row in the report, but it is a zero on a time axis, not a gap (none when there would be too many)
function periodKeys(from, to, granularity, limit = 1000) {
  const keys = [];
  const seen = new Set();
  const day = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  while (day <= end) {
    const iso = day.toISOString().slice(0, 10);
    let key = iso;
    if (granularity === "month") key = iso.slice(0, 7);
    else if (granularity === "year") key = iso.slice(0, 4);
    else if (granularity === "week") {
      const thursday = new Date(day);
      thursday.setUTCDate(day.getUTCDate() + 3 - ((day.getUTCDay() + 6) % 7));
      const year = thursday.getUTCFullYear();
      const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / 86400000 / 7) + 1;
      key = `${year}-W${String(week).padStart(2, "0")}`;
    }
    if (!seen.has(key)) {
      if (keys.length >= limit) return null;
      seen.add(key);
      keys.push(key);
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return keys;
}

const outcomeOf = (figures, key) => (figures.outcomes.find((o) => o.key === key) || {}).count ?? 0;

// answered, abandoned and the other outcomes together, for the stacked columns: a sum of parts one
// of which is hidden is itself hidden ("<5" when it can only be that one small cell, else "x")
function threeSeries(figures) {
  const rest = OUTCOMES.slice(2).map((k) => outcomeOf(figures, k));
  const hidden = rest.filter((v) => typeof v === "string");
  let other = rest.filter(isNumber).reduce((a, b) => a + b, 0);
  if (hidden.length) other = hidden.length === 1 && hidden[0] === "<5" && other === 0 ? "<5" : "x";
  return [outcomeOf(figures, "answered"), outcomeOf(figures, "abandoned"), other];
}

function scroller(caption, content) {
  return h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption }, content);
}

export async function mount(root, ctx) {
  const anywhere = ctx.has("analyst", "national_supervisor"); // a supervisor reports on their own switchboard
  const own = anywhere ? null : ctx.user.home_switchboard;
  const withWorkload = ctx.has("supervisor", "national_supervisor");
  const today = localDate();
  const defaults = {
    date_from: `${today.slice(0, 8)}01`,
    date_to: today,
    area: own ? `switchboard:${own}` : "",
    number: "",
    granularity: "day",
  };
  const start = remembered && remembered.user === ctx.user.id ? remembered.filters : defaults;
  const state = { seq: 0, timer: null, stopped: false, codes: {} };

  // ---- the form ------------------------------------------------------------------------------
  const dateFrom = h("input", { type: "date", name: "date_from", required: true, value: start.date_from, max: today });
  const dateTo = h("input", { type: "date", name: "date_to", required: true, value: start.date_to, max: today });
  const area = h("select", { name: "area", disabled: Boolean(own) });
  if (own) {
    area.append(h("option", { value: `switchboard:${own}` }, t(`board.${own}`)));
  } else {
    area.append(
      h("option", { value: "" }, t("an.area.all")),
      h("optgroup", { label: t("an.area.regions") }, REGIONS.map((r) => h("option", { value: `region:${r}` }, t(`region.${r}`)))),
      h("optgroup", { label: t("an.area.boards") }, BOARDS.map((b) => h("option", { value: `switchboard:${b}` }, t(`board.${b}`)))),
    );
  }
  area.value = start.area;
  const number = h(
    "select",
    { name: "number" },
    h("option", { value: "" }, t("an.number.all")),
    NUMBERS.map((n) => h("option", { value: n.value }, n.text)),
  );
  number.value = start.number;
  const granularity = h(
    "select",
    { name: "granularity" },
    GRANULARITIES.map((g) => h("option", { value: g }, t(`an.granularity.${g}`))),
  );
  granularity.value = start.granularity;
  const formError = h("p", { class: "form-error", role: "alert", id: "an-form-error" });
  const csv = h("a", { class: "button", download: "" }, t("an.csv"));
  const xlsx = h("a", { class: "button", download: "" }, t("an.xlsx"));
  const form = h(
    "form",
    { class: "card an-filters", "aria-labelledby": "an-filters-title", novalidate: true },
    h("h2", { id: "an-filters-title", class: "visually-hidden" }, t("an.filters")),
    h(
      "div",
      { class: "row" },
      field(t("an.from"), dateFrom),
      field(t("an.to"), dateTo),
      field(t("an.area"), area),
      field(t("an.number"), number),
      field(t("an.granularity"), granularity),
      h("div", { class: "field button-field" }, h("button", { type: "submit", class: "primary" }, t("an.show"))),
    ),
    formError,
    h(
      "div",
      { class: "an-downloads", role: "group", "aria-label": t("an.downloads"), "aria-describedby": "an-downloads-hint" },
      csv,
      xlsx,
      h("small", { id: "an-downloads-hint", class: "hint" }, t("an.downloads.hint")),
    ),
  );
  const status = h("p", { class: "muted an-status", role: "status", "aria-live": "polite" });
  const out = h("div", { class: "an-report" });
  root.append(h("h1", {}, t("an.title")), form, status, out);

  function read() {
    const [kind, value] = (area.value || ":").split(":");
    return {
      date_from: dateFrom.value,
      date_to: dateTo.value,
      region: kind === "region" ? value : "",
      switchboard: kind === "switchboard" ? value : "",
      number: number.value,
      granularity: granularity.value,
    };
  }

  function check(f) {
    for (const el of [dateFrom, dateTo]) el.removeAttribute("aria-invalid");
    if (!f.date_from || !f.date_to) {
      (f.date_from ? dateTo : dateFrom).setAttribute("aria-invalid", "true");
      return t("an.error.dates");
    }
    if (f.date_to < f.date_from) {
      dateTo.setAttribute("aria-invalid", "true");
      return t("an.error.order");
    }
    return "";
  }

  function setLinks(f) {
    for (const [link, format] of [
      [csv, "csv"],
      [xlsx, "xlsx"],
    ]) {
      if (f) {
        link.setAttribute("href", `/api/v1/reports/export${query({ ...f, format })}`);
        link.removeAttribute("aria-disabled");
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
      }
    }
  }

  async function apply() {
    clearTimeout(state.timer);
    const f = read();
    const problem = check(f);
    formError.textContent = problem;
    if (problem) {
      setLinks(null);
      return;
    }
    formError.textContent = "";
    setLinks(f);
    remembered = { user: ctx.user.id, filters: { ...f, area: area.value } };
    await load(f);
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  for (const el of [dateFrom, dateTo, area, number, granularity]) {
    el.addEventListener("change", () => {
      clearTimeout(state.timer);
      state.timer = setTimeout(apply, 300);
    });
  }

  // ---- the figures -----------------------------------------------------------------------------
  async function load(f) {
    const seq = ++state.seq;
    status.textContent = t("an.loading");
    out.setAttribute("aria-busy", "true");
    const q = query(f);
    const wanted = [
      get(`/api/v1/reports/summary${q}`),
      get(`/api/v1/reports/calls${q}`),
      get(`/api/v1/reports/contacts${q}`),
      get(`/api/v1/reports/referrals${q}`),
      get(`/api/v1/reports/routing${q}`),
      withWorkload ? get(`/api/v1/reports/workload${q}`) : null,
    ];
    let answers;
    try {
      answers = await Promise.all(wanted);
    } catch (err) {
      if (state.stopped || seq !== state.seq) return;
      status.textContent = "";
      out.removeAttribute("aria-busy");
      if (err instanceof ApiError && err.status === 422) formError.textContent = err.message;
      else ctx.error(err);
      return;
    }
    if (state.stopped || seq !== state.seq) return; // a newer choice of filters is on its way
    const [summary, calls, contacts, referrals, routing, workload] = answers;
    out.removeAttribute("aria-busy");
    status.textContent = summary.figures_as_of ? t("an.as_of", { t: fmtDateTime(summary.figures_as_of) }) : "";
    clear(out).append(
      headline(f, summary),
      callsOverTime(f, calls),
      h("div", { class: "grid an-two" }, outcomesCard(summary), boardsCard(calls)),
      contactsCard(contacts),
      referralsCard(referrals),
      routingCard(routing),
      workload ? workloadCard(workload) : null,
    );
  }

  const codeLabel = (list, key) => {
    if (key === "None" || key === null || key === undefined) return t("an.unknown");
    if (list === null) return countryName(key);
    const entry = state.codes[list]?.[key];
    return entry ? label(entry) : key;
  };
  const regionLabel = (key) => (REGIONS.includes(key) ? t(`region.${key}`) : t("an.unknown"));
  const boardLabel = (key) => (BOARDS.includes(key) ? t(`board.${key}`) : key);

  function countryName(code) {
    try {
      return new Intl.DisplayNames([lang() === "en" ? "en" : "vi"], { type: "region" }).of(code) || code;
    } catch (err) {
      return code;
    }
  }

  function areaText(f) {
    if (f.switchboard) return t(`board.${f.switchboard}`);
    if (f.region) return t(`region.${f.region}`);
    return t("an.area.all");
  }

  function legend() {
    return h(
      "div",
      { class: "notice an-legend", role: "note", "aria-labelledby": "an-legend-title" },
      h("strong", { id: "an-legend-title" }, t("an.legend.title")),
      h(
        "dl",
        {},
        h("dt", {}, "<5"),
        h("dd", {}, t("an.legend.small")),
        h("dt", {}, "x"),
        h("dd", {}, t("an.legend.hidden")),
        h("dt", {}, "—"),
        h("dd", {}, t("an.legend.rate")),
      ),
    );
  }

  function tile(name, value, sub, cls) {
    return h(
      "div",
      { class: `tile${cls ? ` ${cls}` : ""}` },
      h("div", { class: "value" }, value),
      h("div", { class: "name" }, name),
      sub ? h("div", { class: "sub" }, sub) : null,
    );
  }

  function headline(f, summary) {
    const fig = summary.figures;
    const related = summary.trafficking_related_pct;
    const bits = [
      t("an.period", { from: fmtDay(f.date_from), to: fmtDay(f.date_to) }),
      areaText(f),
      f.number ? NUMBERS.find((n) => n.value === f.number)?.text || f.number : t("an.number.all"),
    ];
    return h(
      "section",
      { class: "an-headline", "aria-labelledby": "an-headline-title" },
      h("h2", { id: "an-headline-title" }, t("an.headline"), " ", h("span", { class: "an-scope" }, bits.join(" · "))),
      summary.suppressed ? legend() : null,
      fig.calls === 0 ? h("p", { class: "empty" }, t("an.none")) : null,
      h(
        "div",
        { class: "tiles", role: "group", "aria-label": t("an.headline") },
        tile(t("an.tile.calls"), fmtNumber(fig.calls)),
        tile(t("an.tile.answered"), fmtNumber(outcomeOf(fig, "answered"))),
        tile(t("an.tile.answered_rate"), fmtPercent(fig.answered_rate)),
        tile(t("an.tile.service_level"), fmtPercent(fig.service_level)),
        tile(t("an.tile.sl2"), fmtPercent(fig.sl2)),
        tile(t("an.tile.abandoned"), fmtNumber(outcomeOf(fig, "abandoned"))),
        tile(t("an.tile.avg_wait"), fmtDuration(fig.avg_wait_seconds)),
        tile(t("an.tile.avg_talk"), fmtDuration(fig.avg_talk_seconds)),
        tile(t("an.tile.records"), fmtNumber(summary.contact_records)),
        tile(
          t("an.tile.related"),
          fmtNumber(summary.trafficking_related),
          related === null || related === undefined ? null : t("an.tile.related_pct", { p: `${fmtNumber(related, 2)} %` }),
        ),
        tile(t("an.tile.referrals"), fmtNumber(summary.referrals)),
      ),
    );
  }

  // the figures of a call report row (period, switchboard, region) as table columns
  function figureColumns(first, nameOf) {
    return [
      { text: first, value: (p) => nameOf(p.period) },
      { text: t("an.col.calls"), class: "num", value: (p) => fmtNumber(p.figures.calls) },
      ...OUTCOMES.map((o) => ({ text: t(`an.outcome.${o}`), class: "num", value: (p) => fmtNumber(outcomeOf(p.figures, o)) })),
      { text: t("an.col.answered_rate"), class: "num", value: (p) => fmtPercent(p.figures.answered_rate) },
      { text: t("an.col.sl"), class: "num", value: (p) => fmtPercent(p.figures.service_level) },
      { text: t("an.col.sl2"), class: "num", value: (p) => fmtPercent(p.figures.sl2) },
      { text: t("an.col.wait"), class: "num", value: (p) => fmtDuration(p.figures.avg_wait_seconds) },
      { text: t("an.col.talk"), class: "num", value: (p) => fmtDuration(p.figures.avg_talk_seconds) },
    ];
  }

  function callsOverTime(f, calls) {
    const sent = new Map(calls.periods.map((p) => [p.period, p]));
    const keys = periodKeys(f.date_from, f.date_to, f.granularity);
    const all = keys && calls.periods.every((p) => keys.includes(p.period));
    const columns = all ? keys.map((k) => sent.get(k) || { period: k, figures: { calls: 0, outcomes: [] } }) : calls.periods;
    const labels = columns.map((p) => periodLabel(p.period, f.granularity));
    const chart = columnChart({
      title: t("an.calls.title"),
      categories: columns.map((p, i) => ({ key: p.period, ...labels[i] })),
      series: [
        { name: t("an.series.answered"), cls: "s1" },
        { name: t("an.series.abandoned"), cls: "s2" },
        { name: t("an.series.other"), cls: "s3" },
      ],
      values: columns.map((p) => threeSeries(p.figures)),
      totals: columns.map((p) => p.figures.calls),
    });
    const caption = t("an.calls.table");
    return h(
      "section",
      { class: "card", "aria-labelledby": "an-calls-title" },
      h("h2", { id: "an-calls-title" }, t("an.calls.title")),
      chart,
      scroller(
        caption,
        table(
          figureColumns(t("an.col.period"), (k) => periodLabel(k, f.granularity).label),
          calls.periods,
          { caption },
        ),
      ),
    );
  }

  function countColumns(nameOf, countHeader = t("an.col.count")) {
    return [
      { text: t("an.col.item"), value: (r) => nameOf(r.key) },
      { text: countHeader, class: "num", value: (r) => fmtNumber(r.count) },
      { text: t("an.col.pct"), class: "num", value: (r) => pct(r.pct) },
    ];
  }

  // a chart of one list of rows ({key, count, pct}) and its table
  function rowsBlock(id, title, rows, nameOf, countHeader) {
    return h(
      "div",
      { class: "an-block", "aria-labelledby": id, role: "group" },
      h("h3", { id }, title),
      barChart({
        title,
        items: rows.map((r) => ({ key: r.key, label: nameOf(r.key) })),
        series: [{ name: countHeader || t("an.series.count"), cls: "s1" }],
        values: rows.map((r) => [r.count]),
      }),
      table(countColumns(nameOf, countHeader), rows, { caption: title }),
    );
  }

  function outcomesCard(summary) {
    const rows = summary.figures.outcomes;
    return h(
      "section",
      { class: "card an-block", "aria-labelledby": "an-outcomes-title" },
      h("h2", { id: "an-outcomes-title" }, t("an.outcomes.title")),
      barChart({
        title: t("an.outcomes.title"),
        items: rows.map((r) => ({ key: r.key, label: t(`an.outcome.${r.key}`) })),
        series: [{ name: t("an.series.calls"), cls: "s1" }],
        values: rows.map((r) => [r.count]),
      }),
      table(countColumns((k) => t(`an.outcome.${k}`), t("an.series.calls")), rows, { caption: t("an.outcomes.title") }),
    );
  }

  function boardsCard(calls) {
    const boards = calls.switchboards;
    const compact = (first, nameOf) => [
      { text: first, value: (p) => nameOf(p.period) },
      { text: t("an.col.calls"), class: "num", value: (p) => fmtNumber(p.figures.calls) },
      { text: t("an.series.answered"), class: "num", value: (p) => fmtNumber(outcomeOf(p.figures, "answered")) },
      { text: t("an.series.abandoned"), class: "num", value: (p) => fmtNumber(outcomeOf(p.figures, "abandoned")) },
      { text: t("an.col.answered_rate"), class: "num", value: (p) => fmtPercent(p.figures.answered_rate) },
      { text: t("an.col.sl"), class: "num", value: (p) => fmtPercent(p.figures.service_level) },
      { text: t("an.col.wait"), class: "num", value: (p) => fmtDuration(p.figures.avg_wait_seconds) },
    ];
    return h(
      "section",
      { class: "card", "aria-labelledby": "an-boards-title" },
      h("h2", { id: "an-boards-title" }, t("an.boards.title")),
      barChart({
        title: t("an.boards.chart"),
        items: boards.map((p) => ({ key: p.period, label: boardLabel(p.period) })),
        series: [
          { name: t("an.series.answered"), cls: "s1" },
          { name: t("an.series.abandoned"), cls: "s2" },
        ],
        values: boards.map((p) => [outcomeOf(p.figures, "answered"), outcomeOf(p.figures, "abandoned")]),
      }),
      table(compact(t("an.col.board"), boardLabel), boards, { caption: t("an.boards.table") }),
      table(compact(t("an.col.region"), regionLabel), calls.regions, { caption: t("an.regions.table") }),
    );
  }

  function contactsCard(contacts) {
    const blocks = contacts.breakdowns.map((b) => {
      const list = BREAKDOWN_LISTS[b.name];
      const nameOf = (k) => codeLabel(list, k);
      const related = new Map(b.trafficking.map((r) => [r.key, r]));
      const keys = [...b.all.map((r) => r.key), ...b.trafficking.map((r) => r.key).filter((k) => !b.all.some((r) => r.key === k))];
      const rows = keys.map((k) => ({ key: k, all: b.all.find((r) => r.key === k) || { count: 0, pct: null }, related: related.get(k) || { count: 0, pct: null } }));
      const title = t(`an.b.${b.name}`);
      const id = `an-b-${b.name}`;
      return h(
        "div",
        { class: "an-block", role: "group", "aria-labelledby": id },
        h("h3", { id }, title),
        h("p", { class: "muted" }, t("an.contacts.totals", { all: fmtNumber(b.records), related: fmtNumber(b.trafficking_related) })),
        barChart({
          title,
          items: rows.map((r) => ({ key: r.key, label: nameOf(r.key) })),
          series: [
            { name: t("an.series.records"), cls: "s1" },
            { name: t("an.series.related"), cls: "s2" },
          ],
          values: rows.map((r) => [r.all.count, r.related.count]),
        }),
        table(
          [
            { text: t("an.col.item"), value: (r) => nameOf(r.key) },
            { text: t("an.col.records"), class: "num", value: (r) => fmtNumber(r.all.count) },
            { text: t("an.col.pct"), class: "num", value: (r) => pct(r.all.pct) },
            { text: t("an.col.related"), class: "num", value: (r) => fmtNumber(r.related.count) },
            { text: t("an.col.pct"), class: "num", value: (r) => pct(r.related.pct) },
          ],
          rows,
          { caption: title },
        ),
      );
    });
    return h(
      "section",
      { class: "card", "aria-labelledby": "an-contacts-title" },
      h("h2", { id: "an-contacts-title" }, t("an.contacts.title")),
      h("p", { class: "muted" }, t("an.contacts.intro")),
      h("div", { class: "grid an-two" }, blocks),
    );
  }

  function referralsCard(r) {
    const lists = [
      ["by_type", "referral_type"],
      ["by_partner_kind", "partner_kind"],
      ["by_status", "referral_status"],
      ["by_outcome", "referral_outcome"],
    ];
    return h(
      "section",
      { class: "card", "aria-labelledby": "an-referrals-title" },
      h("h2", { id: "an-referrals-title" }, t("an.referrals.title")),
      h(
        "div",
        { class: "tiles", role: "group", "aria-label": t("an.referrals.title") },
        tile(t("an.referrals.count"), fmtNumber(r.referrals)),
        tile(
          t("an.referrals.acceptance"),
          hours(r.avg_hours_to_acceptance),
          t("an.referrals.avg_median", { a: hours(r.avg_hours_to_acceptance), m: hours(r.median_hours_to_acceptance) }),
        ),
        tile(
          t("an.referrals.completion"),
          hours(r.avg_hours_to_completion),
          t("an.referrals.avg_median", { a: hours(r.avg_hours_to_completion), m: hours(r.median_hours_to_completion) }),
        ),
      ),
      h(
        "div",
        { class: "grid an-two" },
        lists.map(([key, list]) => rowsBlock(`an-ref-${key}`, t(`an.referrals.${key}`), r[key], (k) => codeLabel(list, k))),
      ),
    );
  }

  function routingCard(r) {
    const reasonOf = (k) => t(`an.reason.${k}`);
    const waits = r.regions;
    return h(
      "section",
      { class: "card", "aria-labelledby": "an-routing-title" },
      h("h2", { id: "an-routing-title" }, t("an.routing.title")),
      h(
        "div",
        { class: "grid an-two" },
        rowsBlock("an-routing-reasons", t("an.routing.reasons"), r.reasons, reasonOf, t("an.series.calls")),
        h(
          "div",
          { class: "an-block", role: "group", "aria-labelledby": "an-routing-waits" },
          h("h3", { id: "an-routing-waits" }, t("an.routing.waits")),
          barChart({
            title: t("an.routing.waits.chart"),
            items: waits.map((p) => ({ key: p.period, label: regionLabel(p.period) })),
            series: [{ name: t("an.series.wait"), cls: "s1" }],
            values: waits.map((p) => [p.figures.avg_wait_seconds]),
          }),
        ),
      ),
      scroller(
        t("an.routing.waits"),
        table(figureColumns(t("an.col.caller_region"), regionLabel), waits, { caption: t("an.routing.waits") }),
      ),
    );
  }

  function workloadCard(w) {
    return h(
      "section",
      { class: "card", "aria-labelledby": "an-workload-title", id: "an-workload" },
      h("h2", { id: "an-workload-title" }, t("an.workload.title")),
      h("p", { class: "muted" }, t("an.workload.note")),
      scroller(
        t("an.workload.title"),
        table(
          [
            { text: t("an.col.counsellor"), value: (c) => c.display_name },
            { text: t("an.col.username"), value: (c) => c.username },
            { text: t("an.col.board"), value: (c) => boardLabel(c.switchboard) },
            { text: t("an.col.answered"), class: "num", value: (c) => fmtNumber(c.answered) },
            { text: t("an.col.talk_hours"), class: "num", value: (c) => fmtNumber(c.talk_hours, 2) },
            { text: t("an.col.missed"), class: "num", value: (c) => fmtNumber(c.missed_offers) },
            { text: t("an.col.records_written"), class: "num", value: (c) => fmtNumber(c.contact_records) },
          ],
          w.counsellors,
          { caption: t("an.workload.title") },
        ),
      ),
    );
  }

  // the code lists' labels (retired codes too: old records name them), once per screen
  try {
    const data = await get("/api/v1/codes?include_retired=true");
    state.codes = Object.fromEntries(
      data.lists.map((l) => [l.name, Object.fromEntries(l.codes.map((c) => [c.code, c]))]),
    );
  } catch (err) {
    ctx.error(err); // the figures still show, with the codes themselves as labels
  }
  if (!state.stopped) apply();

  return () => {
    state.stopped = true;
    clearTimeout(state.timer);
  };
}
