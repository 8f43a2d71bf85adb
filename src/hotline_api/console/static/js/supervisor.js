// The supervisor's wallboard: waiting calls and their wait, counsellors by state, today's service
// level and abandoned calls, why each call went where it went, and the routing settings.
// A supervisor sees their switchboard; a national supervisor all three.
import { get, put, query } from "./api.js";
import { addStrings, t } from "./i18n.js";
import { clear, field, fmtDateTime, fmtDuration, fmtNumber, fmtPercent, fmtTime, h, localDate, modal, select, table, toast } from "./ui.js";

addStrings({
  vi: {
    "s.title": "Bảng giám sát — {b}",
    "s.all": "cả ba tổng đài",
    "s.board": "Tổng đài",
    "s.today": "Hôm nay",
    "s.calls": "Cuộc gọi",
    "s.answered": "Đã trả lời",
    "s.abandoned": "Bỏ máy khi chờ",
    "s.sl": "Mức phục vụ (SL)",
    "s.sl2": "SL2",
    "s.avg_wait": "Chờ trung bình",
    "s.as_of": "Số liệu đến {t}",
    "s.waiting": "Cuộc gọi đang chờ",
    "s.waiting.none": "Không có cuộc gọi nào đang chờ.",
    "s.wait": "Đã chờ",
    "s.priority": "Ưu tiên",
    "s.region": "Vùng",
    "s.language": "Ngôn ngữ",
    "s.state": "Trạng thái",
    "s.offered_to": "Đang mời",
    "s.why": "Vì sao?",
    "s.counsellors": "Tư vấn viên",
    "s.counsellor": "Tư vấn viên",
    "s.since": "Từ",
    "s.set_state": "Đổi trạng thái",
    "s.recent": "Cuộc gọi gần đây",
    "s.outcome": "Kết quả",
    "s.started": "Bắt đầu",
    "s.routing": "Định tuyến cuộc gọi #{id}",
    "s.routing.none": "Cuộc gọi này chưa hỏi định tuyến (không vào hàng chờ).",
    "s.routing.at": "Lúc",
    "s.routing.action": "Quyết định",
    "s.routing.reason": "Lý do",
    "s.routing.region": "Vùng (căn cứ)",
    "s.routing.target": "Đến",
    "s.settings": "Cài đặt định tuyến — {b}",
    "s.settings.hours": "Giờ làm việc (giờ Việt Nam)",
    "s.settings.day": "Thứ {d}",
    "s.settings.day7": "Chủ nhật",
    "s.settings.open": "Mở",
    "s.settings.from": "Từ",
    "s.settings.to": "Đến",
    "s.settings.overflow": "Chuyển vùng sau (giây)",
    "s.settings.ring": "Thời gian đổ chuông (giây)",
    "s.settings.wrap": "Thời gian ghi nhận (giây)",
    "s.settings.language_wait": "Chờ tư vấn viên đúng ngôn ngữ (giây)",
    "s.settings.wait": "Hỏi lại sau (giây)",
    "s.settings.max_wait": "Chờ tối đa (giây)",
    "s.settings.updated": "Sửa lần cuối {t} bởi {by}",
    "s.settings.saved": "Đã lưu cài đặt định tuyến.",
    "s.emergency": "Khẩn cấp",
    "s.status.waiting": "Đang chờ",
    "action.dial": "Đổ chuông tư vấn viên",
    "action.wait": "Chờ, hỏi lại",
    "action.queue": "Hàng chờ của tổng đài",
    "action.transfer": "Chuyển sang vùng khác",
    "why.longest_idle": "tư vấn viên rảnh lâu nhất",
    "why.case_counsellor": "người phụ trách hồ sơ",
    "why.previous_counsellor": "người đã nghe lần trước",
    "why.any_language": "không có người nói đúng ngôn ngữ — nhận bất kỳ",
    "why.wait_limit": "đã chờ quá lâu",
    "why.no_transfer_target": "không có nơi chuyển — phục vụ tại chỗ",
    "why.origin": "cuộc gọi chuyển đến — phục vụ tại đây",
    "why.closed": "ngoài giờ làm việc",
    "why.repeat_caller": "người gọi lại",
    "why.open_case": "có hồ sơ đang mở",
    "why.area_code": "theo mã vùng",
    "why.ivr": "theo lựa chọn trên tổng đài tự động",
    "why.default": "mặc định",
    "why.lock_timeout": "hệ thống bận",
    "why.database_unavailable": "cơ sở dữ liệu không sẵn sàng",
    "why.no_counsellor": "không có tư vấn viên rảnh",
    "why.overflow": "chờ quá ngưỡng — chuyển vùng",
    "s.reason.open_case": "hồ sơ đang mở",
    "s.reason.area_code": "mã vùng",
    "s.reason.ivr": "lựa chọn trên tổng đài tự động",
    "s.reason.switchboard": "tổng đài nhận",
  },
  en: {
    "s.title": "Wallboard — {b}",
    "s.all": "all three switchboards",
    "s.board": "Switchboard",
    "s.today": "Today",
    "s.calls": "Calls",
    "s.answered": "Answered",
    "s.abandoned": "Abandoned",
    "s.sl": "Service level",
    "s.sl2": "SL2",
    "s.avg_wait": "Average wait",
    "s.as_of": "Figures as of {t}",
    "s.waiting": "Waiting calls",
    "s.waiting.none": "No call is waiting.",
    "s.wait": "Waited",
    "s.priority": "Priority",
    "s.region": "Region",
    "s.language": "Language",
    "s.state": "State",
    "s.offered_to": "Offered to",
    "s.why": "Why?",
    "s.counsellors": "Counsellors",
    "s.counsellor": "Counsellor",
    "s.since": "Since",
    "s.set_state": "Change state",
    "s.recent": "Recent calls",
    "s.outcome": "Outcome",
    "s.started": "Started",
    "s.routing": "Routing of call #{id}",
    "s.routing.none": "This call never asked for routing (it did not reach the queue).",
    "s.routing.at": "At",
    "s.routing.action": "Decision",
    "s.routing.reason": "Reason",
    "s.routing.region": "Region (from)",
    "s.routing.target": "To",
    "s.settings": "Routing settings — {b}",
    "s.settings.hours": "Opening hours (Vietnam time)",
    "s.settings.day": "Day {d}",
    "s.settings.day7": "Sunday",
    "s.settings.open": "Open",
    "s.settings.from": "From",
    "s.settings.to": "To",
    "s.settings.overflow": "Overflow after (seconds)",
    "s.settings.ring": "Ring time (seconds)",
    "s.settings.wrap": "Wrap-up time (seconds)",
    "s.settings.language_wait": "Wait for a counsellor of the language (seconds)",
    "s.settings.wait": "Ask again after (seconds)",
    "s.settings.max_wait": "Longest wait (seconds)",
    "s.settings.updated": "Last changed {t} by {by}",
    "s.settings.saved": "Routing settings saved.",
    "s.emergency": "Emergency",
    "s.status.waiting": "Waiting",
    "action.dial": "Ring a counsellor",
    "action.wait": "Wait and ask again",
    "action.queue": "The switchboard's own queue",
    "action.transfer": "Send to another region",
    "why.longest_idle": "the counsellor free the longest",
    "why.case_counsellor": "the case's counsellor",
    "why.previous_counsellor": "who took the last call",
    "why.any_language": "nobody with the language — anyone",
    "why.wait_limit": "waited too long",
    "why.no_transfer_target": "nowhere to send it — served here",
    "why.origin": "sent here — served here",
    "why.closed": "outside opening hours",
    "why.repeat_caller": "a repeat caller",
    "why.open_case": "an open case",
    "why.area_code": "by area code",
    "why.ivr": "by the IVR choice",
    "why.default": "default",
    "why.lock_timeout": "system busy",
    "why.database_unavailable": "database unavailable",
    "why.no_counsellor": "no counsellor free",
    "why.overflow": "over the threshold — overflow",
    "s.reason.open_case": "open case",
    "s.reason.area_code": "area code",
    "s.reason.ivr": "IVR choice",
    "s.reason.switchboard": "receiving switchboard",
  },
});

const BOARDS = ["hanoi", "danang", "angiang"];
const STATES = ["available", "reserved", "on_call", "wrap_up", "break", "missed", "offline"];
const DAY_NAMES = { vi: (d) => (d === 7 ? t("s.settings.day7") : t("s.settings.day", { d: d + 1 })) };

export async function mount(root, ctx) {
  const national = ctx.has("national_supervisor");
  const boards = national ? BOARDS : [ctx.user.home_switchboard];
  const s = { board: national ? "" : boards[0], queues: [], presence: [], timer: null, refresh: null, stopped: false };
  const names = new Map();

  const title = h("h1", {});
  const tiles = h("div", { class: "tiles", role: "group", "aria-label": t("s.today") });
  const asOf = h("p", { class: "muted" });
  const waitingBox = h("section", { class: "card", "aria-labelledby": "waiting-title" });
  const counsellorBox = h("section", { class: "card", "aria-labelledby": "counsellors-title" });
  const recentBox = h("section", { class: "card", "aria-labelledby": "recent-title" });
  const settingsBox = h("section", { class: "card", "aria-labelledby": "settings-title" });

  const boardChoice = select(
    "board",
    [...(national ? [{ value: "", text: t("s.all") }] : []), ...boards.map((b) => ({ value: b, text: t(`board.${b}`) }))],
    { value: s.board, empty: false },
  );
  boardChoice.addEventListener("change", () => {
    s.board = boardChoice.value;
    refreshAll();
  });

  root.append(
    h("div", { class: "row wall-head" }, title, national ? field(t("s.board"), boardChoice) : null),
    tiles,
    asOf,
    h("div", { class: "grid two" }, h("div", {}, waitingBox, recentBox), h("div", {}, counsellorBox, settingsBox)),
  );

  const shown = (board) => !s.board || board === s.board;

  async function loadToday() {
    const today = localDate();
    const summary = await get(
      `/api/v1/reports/summary${query({ date_from: today, date_to: today, switchboard: s.board, granularity: "day" })}`,
    );
    const f = summary.figures;
    const outcome = (key) => (f.outcomes.find((o) => o.key === key) || {}).count ?? 0;
    const tile = (name, value, alert) =>
      h("div", { class: `tile${alert ? " alert" : ""}` }, h("div", { class: "value" }, value), h("div", { class: "name" }, name));
    clear(tiles).append(
      tile(t("s.calls"), fmtNumber(f.calls)),
      tile(t("s.answered"), fmtNumber(outcome("answered"))),
      tile(t("s.abandoned"), fmtNumber(outcome("abandoned")), outcome("abandoned") > 0),
      tile(t("s.sl"), fmtPercent(f.service_level)),
      tile(t("s.sl2"), fmtPercent(f.sl2)),
      tile(t("s.avg_wait"), fmtDuration(f.avg_wait_seconds)),
    );
    asOf.textContent = summary.figures_as_of ? t("s.as_of", { t: fmtTime(summary.figures_as_of) }) : "";
  }

  async function loadLive() {
    const [queues, presence] = await Promise.all([
      get("/api/v1/queues"),
      get(`/api/v1/presence${query({ switchboard: s.board })}`),
    ]);
    s.queues = queues;
    s.presence = presence;
    for (const p of presence) names.set(p.user_id, p.display_name || p.username);
    renderWaiting();
    renderCounsellors();
  }

  function renderWaiting() {
    const rows = s.queues.filter((q) => shown(q.switchboard)).flatMap((q) => q.waiting.map((w) => ({ ...w, switchboard: q.switchboard, seen: Date.now() })));
    clear(waitingBox).append(
      h("h2", { id: "waiting-title" }, t("s.waiting"), " ", h("span", { class: "badge" }, String(rows.length))),
      rows.length
        ? table(
            [
              { text: "#", value: (w) => String(w.call_id) },
              { text: t("s.board"), value: (w) => t(`board.${w.switchboard}`) },
              { text: t("s.wait"), class: "num", value: (w) => h("span", { class: "wait", dataset: { base: String(w.waiting_seconds), seen: String(w.seen) } }, fmtDuration(w.waiting_seconds)) },
              { text: t("s.priority"), value: (w) => (w.emergency ? h("span", { class: "badge emergency" }, t("s.emergency")) : String(w.priority)) },
              { text: t("s.region"), value: (w) => t(`region.${w.region}`) },
              { text: t("s.language"), value: (w) => w.language },
              { text: t("s.state"), value: (w) => (w.status === "offered" ? `${t("s.offered_to")} ${names.get(w.offered_user_id) || "#" + w.offered_user_id}` : t("s.status.waiting")) },
              { text: "", value: (w) => h("button", { type: "button", class: "link", onclick: () => why(w.call_id) }, t("s.why"), h("span", { class: "visually-hidden" }, ` #${w.call_id}`)) },
            ],
            rows,
          )
        : h("p", { class: "empty" }, t("s.waiting.none")),
    );
  }

  function renderCounsellors() {
    const rows = s.presence.slice().sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state));
    const counts = {};
    for (const p of rows) counts[p.state] = (counts[p.state] || 0) + 1;
    clear(counsellorBox).append(
      h("h2", { id: "counsellors-title" }, t("s.counsellors")),
      h(
        "p",
        { class: "state-counts" },
        STATES.filter((st) => counts[st]).map((st) => h("span", { class: `badge ${st}` }, `${t(`state.${st}`)}: ${counts[st]}`)),
      ),
      table(
        [
          { text: t("s.counsellor"), value: (p) => p.display_name || p.username },
          { text: t("s.board"), value: (p) => t(`board.${p.switchboard}`) },
          { text: t("s.state"), value: (p) => h("span", { class: `badge ${p.state}` }, t(`state.${p.state}`)) },
          { text: t("s.since"), value: (p) => fmtTime(p.since) },
          {
            text: t("s.set_state"),
            value: (p) => {
              const choice = select(
                "state",
                ["available", "break", "offline"].map((st) => ({ value: st, text: t(`state.${st}`) })),
                { value: "" },
              );
              choice.setAttribute("aria-label", `${t("s.set_state")}: ${p.display_name || p.username}`);
              choice.addEventListener("change", async () => {
                if (!choice.value) return;
                try {
                  await put(`/api/v1/presence/${p.user_id}`, { state: choice.value });
                  toast(t("saved"), "ok");
                } catch (err) {
                  ctx.error(err);
                }
                loadLive();
              });
              return choice;
            },
          },
        ],
        rows,
      ),
    );
  }

  async function loadRecent() {
    const page = await get(`/api/v1/calls${query({ limit: 15, switchboard: s.board })}`);
    clear(recentBox).append(
      h("h2", { id: "recent-title" }, t("s.recent")),
      table(
        [
          { text: "#", value: (c) => String(c.id) },
          { text: t("s.started"), value: (c) => fmtTime(c.started_at) },
          { text: t("s.board"), value: (c) => t(`board.${c.switchboard}`) },
          { text: t("s.region"), value: (c) => (c.caller_region ? t(`region.${c.caller_region}`) : "—") },
          { text: t("s.outcome"), value: (c) => t(`outcome.${c.outcome}`) },
          { text: t("s.counsellor"), value: (c) => (c.counsellor_user_id ? names.get(c.counsellor_user_id) || `#${c.counsellor_user_id}` : "—") },
          { text: "", value: (c) => h("button", { type: "button", class: "link", onclick: () => why(c.id) }, t("s.why"), h("span", { class: "visually-hidden" }, ` #${c.id}`)) },
        ],
        page.calls,
      ),
    );
  }

  async function why(callId) {
    let call;
    try {
      call = await get(`/api/v1/calls/${callId}`);
    } catch (err) {
      ctx.error(err);
      return;
    }
    await modal(t("s.routing", { id: callId }), (dialog, close) => {
      dialog.classList.add("wide");
      dialog.append(
        call.routing.length
          ? table(
              [
                { text: t("s.routing.at"), value: (d) => fmtTime(d.at) },
                { text: t("s.routing.action"), value: (d) => t(`action.${d.action}`) + (d.attempt ? ` (${d.attempt})` : "") },
                { text: t("s.routing.reason"), value: (d) => (t(`why.${d.reason}`) === `why.${d.reason}` ? d.reason : t(`why.${d.reason}`)) },
                { text: t("s.routing.region"), value: (d) => (d.region ? `${t(`region.${d.region}`)} — ${t(`s.reason.${d.region_reason}`)}` : "—") },
                { text: t("s.routing.target"), value: (d) => (d.counsellor_user_id ? names.get(d.counsellor_user_id) || `#${d.counsellor_user_id}` : d.target_switchboard ? t(`board.${d.target_switchboard}`) : d.target || "—") },
              ],
              call.routing,
            )
          : h("p", {}, t("s.routing.none")),
        h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => close() }, t("close"))),
      );
    });
  }

  async function loadSettings() {
    const board = s.board || boards[0];
    const cfg = await get(`/api/v1/switchboards/${board}/routing-settings`);
    const dayRows = [1, 2, 3, 4, 5, 6, 7].map((d) => {
      const span = cfg.opening_hours[String(d)];
      const open = h("input", { type: "checkbox", name: `open_${d}`, checked: !!span, "aria-label": `${t("s.settings.open")} ${DAY_NAMES.vi(d)}` });
      const from = h("input", { type: "text", inputmode: "numeric", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]", size: 5, maxlength: 5, name: `from_${d}`, value: span ? span[0] : "07:00", "aria-label": `${t("s.settings.from")} ${DAY_NAMES.vi(d)}` });
      const to = h("input", { type: "text", inputmode: "numeric", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]", size: 5, maxlength: 5, name: `to_${d}`, value: span ? span[1] : "21:30", "aria-label": `${t("s.settings.to")} ${DAY_NAMES.vi(d)}` });
      return h("tr", {}, h("th", { scope: "row" }, DAY_NAMES.vi(d)), h("td", {}, open), h("td", {}, from), h("td", {}, to));
    });
    const num = (name, key, min, max) => field(t(key), h("input", { type: "number", name, value: cfg[name], min, max, required: true }));
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      {},
      h(
        "table",
        { class: "hours" },
        h("caption", {}, t("s.settings.hours")),
        h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, t("s.settings.open")), h("th", {}, t("s.settings.from")), h("th", {}, t("s.settings.to")))),
        h("tbody", {}, dayRows),
      ),
      h(
        "div",
        { class: "row" },
        num("overflow_after_seconds", "s.settings.overflow", 0, 3600),
        num("ring_timeout_seconds", "s.settings.ring", 5, 120),
        num("wrap_up_seconds", "s.settings.wrap", 0, 3600),
      ),
      h(
        "div",
        { class: "row" },
        num("language_wait_seconds", "s.settings.language_wait", 0, 3600),
        num("wait_seconds", "s.settings.wait", 3, 120),
        num("max_wait_seconds", "s.settings.max_wait", 30, 7200),
      ),
      error,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("save"))),
      h("p", { class: "muted" }, t("s.settings.updated", { t: fmtDateTime(cfg.updated_at), by: cfg.updated_by || "—" })),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      const hours = {};
      for (let d = 1; d <= 7; d += 1) {
        if (form.elements[`open_${d}`].checked) hours[String(d)] = [form.elements[`from_${d}`].value, form.elements[`to_${d}`].value];
      }
      const body = { opening_hours: hours };
      for (const name of ["overflow_after_seconds", "ring_timeout_seconds", "wrap_up_seconds", "language_wait_seconds", "wait_seconds", "max_wait_seconds"]) {
        body[name] = Number(form.elements[name].value);
      }
      try {
        await put(`/api/v1/switchboards/${board}/routing-settings`, body);
        toast(t("s.settings.saved"), "ok");
        loadSettings();
      } catch (err) {
        error.textContent = err.message;
      }
    });
    clear(settingsBox).append(h("h2", { id: "settings-title" }, t("s.settings", { b: t(`board.${board}`) })), form);
  }

  async function refreshAll() {
    title.textContent = t("s.title", { b: s.board ? t(`board.${s.board}`) : t("s.all") });
    try {
      await Promise.all([loadLive(), loadToday(), loadSettings()]);
      await loadRecent();
    } catch (err) {
      ctx.error(err);
    }
  }

  // live: a change in a queue or a presence refreshes the boards (at most every half second)
  let pending = null;
  const stopLive = ctx.onLive((kind) => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      if (s.stopped) return;
      try {
        await loadLive();
        if (kind === "queue") await loadRecent();
      } catch (err) {
        ctx.error(err);
      }
    }, 500);
  });
  // waits count up between refreshes; today's figures follow the rollup (every 20 s)
  s.timer = setInterval(() => {
    for (const el of waitingBox.querySelectorAll(".wait")) {
      el.textContent = fmtDuration(Number(el.dataset.base) + (Date.now() - Number(el.dataset.seen)) / 1000);
    }
  }, 1000);
  s.refresh = setInterval(() => loadToday().catch(() => {}), 20000);

  await refreshAll();
  return () => {
    s.stopped = true;
    stopLive();
    clearInterval(s.timer);
    clearInterval(s.refresh);
    clearTimeout(pending);
  };
}
