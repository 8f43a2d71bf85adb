// The counsellor's screen: availability, the call offered or connected (it appears by itself from
// the live stream), the caller's history, the wrap-up, the case and the referral; my open cases and
// my overdue wrap-ups.
import { ApiError, get, put } from "./api.js";
import { addStrings, t } from "./i18n.js";
import { clear, fmtDateTime, fmtDuration, fmtTime, h, table } from "./ui.js";
import { caseActions, codeLabel, referralForm, wrapUpForm } from "./wrapup.js";

addStrings({
  vi: {
    "c.availability": "Trạng thái nhận cuộc gọi",
    "c.state": "Trạng thái hiện tại: {s}",
    "c.wrap_until": "Thời gian ghi nhận còn lại: {d}",
    "c.no_extension": "Bạn chưa có số máy lẻ ở tổng đài này: nhờ quản trị viên thêm.",
    "c.waiting": "Chưa có cuộc gọi. Khi có cuộc gọi đến, thông tin sẽ hiện ra tại đây.",
    "c.waiting.off": "Chọn “Sẵn sàng” để bắt đầu nhận cuộc gọi.",
    "c.call.ringing": "Cuộc gọi đến — đang đổ chuông",
    "c.call.on": "Đang nghe máy",
    "c.call.wrap": "Cuộc gọi vừa kết thúc — ghi nhận",
    "c.call.past": "Cuộc gọi #{id}",
    "c.number": "Số gọi đến",
    "c.number.hidden": "Ẩn (bạn không có quyền xem số này)",
    "c.number.withheld": "Không hiển thị số",
    "c.province": "Tỉnh/thành",
    "c.region": "Vùng",
    "c.switchboard": "Tổng đài",
    "c.dialled": "Số đã gọi",
    "c.started": "Bắt đầu",
    "c.waited": "Thời gian chờ",
    "c.talk": "Thời gian đàm thoại",
    "c.emergency": "Ưu tiên khẩn cấp",
    "c.history": "Lịch sử người gọi",
    "c.history.first": "Lần đầu gọi đến (không có cuộc gọi trước đó).",
    "c.history.withheld": "Người gọi ẩn số: không tra được lịch sử.",
    "c.history.calls": "Các cuộc gọi trước",
    "c.history.cases": "Hồ sơ đang mở",
    "c.when": "Thời điểm",
    "c.outcome": "Kết quả",
    "c.type": "Loại",
    "c.case": "Hồ sơ",
    "c.my_cases": "Hồ sơ của tôi",
    "c.overdue": "Cuộc gọi chờ ghi nhận",
    "c.overdue.do": "Ghi nhận",
    "c.due": "Hạn",
    "c.ended": "Kết thúc",
    "c.reference": "Mã hồ sơ",
    "c.status": "Trạng thái",
    "c.updated": "Cập nhật",
  },
  en: {
    "c.availability": "Taking calls",
    "c.state": "Now: {s}",
    "c.wrap_until": "Wrap-up time left: {d}",
    "c.no_extension": "You have no extension at this switchboard: ask an administrator to add one.",
    "c.waiting": "No call yet. When a call comes in it shows here.",
    "c.waiting.off": "Choose “Available” to start taking calls.",
    "c.call.ringing": "Incoming call — ringing",
    "c.call.on": "On the call",
    "c.call.wrap": "The call has ended — wrap-up",
    "c.call.past": "Call #{id}",
    "c.number": "Caller's number",
    "c.number.hidden": "Hidden (you may not see this number)",
    "c.number.withheld": "Number withheld",
    "c.province": "Province",
    "c.region": "Region",
    "c.switchboard": "Switchboard",
    "c.dialled": "Number dialled",
    "c.started": "Started",
    "c.waited": "Waited",
    "c.talk": "Talk time",
    "c.emergency": "Emergency priority",
    "c.history": "The caller's history",
    "c.history.first": "First call (no earlier calls).",
    "c.history.withheld": "The number is withheld: no history to look up.",
    "c.history.calls": "Earlier calls",
    "c.history.cases": "Open cases",
    "c.when": "When",
    "c.outcome": "Outcome",
    "c.type": "Type",
    "c.case": "Case",
    "c.my_cases": "My cases",
    "c.overdue": "Calls waiting for a wrap-up",
    "c.overdue.do": "Wrap up",
    "c.due": "Due",
    "c.ended": "Ended",
    "c.reference": "Reference",
    "c.status": "Status",
    "c.updated": "Updated",
  },
});

const CHOICES = ["available", "break", "offline"];

// +84912345678 → 0912 345 678, the way a Vietnamese number is read out; others as stored
function nationalNumber(e164) {
  if (!e164) return t("c.number.withheld");
  const m = e164.match(/^\+84(\d+)$/);
  if (!m) return e164;
  const d = `0${m[1]}`;
  return d.length === 10 ? `${d.slice(0, 4)} ${d.slice(4, 7)} ${d.slice(7)}` : d;
}

export async function mount(root, ctx) {
  const me = ctx.user.id;
  const s = { presence: null, callId: null, mode: null, tick: null, stopped: false };
  const stateLine = h("p", { class: "state-line", role: "status", "aria-live": "polite" });
  const presenceError = h("p", { class: "form-error", role: "alert" });
  // a call that rings is said out loud by a screen reader, whatever has the focus
  const announce = h("p", { class: "visually-hidden", "aria-live": "assertive" });
  const callBox = h("section", { class: "card call-panel", "aria-labelledby": "call-title", tabindex: "-1" });
  const casesBox = h("section", { class: "card", "aria-labelledby": "mycases-title" });
  const overdueBox = h("section", { class: "card", "aria-labelledby": "overdue-title" });

  const radios = CHOICES.map((c) =>
    h(
      "label",
      {},
      h("input", {
        type: "radio",
        name: "availability",
        value: c,
        onchange: () => setAvailability(c),
      }),
      t(`state.${c}`),
    ),
  );
  const control = h(
    "fieldset",
    { class: "availability" },
    h("legend", {}, t("c.availability")),
    h("div", { class: "presence" }, radios),
  );

  root.append(
    h("section", { class: "card strip" }, control, h("div", {}, stateLine, presenceError, announce)),
    h("div", { class: "grid two" }, callBox, h("div", {}, overdueBox, casesBox)),
  );

  // ---- presence --------------------------------------------------------------------------------

  function showPresence() {
    const p = s.presence;
    const state = p ? p.state : "offline";
    for (const r of radios) {
      const input = r.querySelector("input");
      input.checked = input.value === state || (input.value === "available" && ["reserved", "on_call", "wrap_up", "missed"].includes(state));
      input.disabled = ["reserved", "on_call"].includes(state) && input.value !== "available";
    }
    clear(stateLine).append(t("c.state", { s: "" }), h("span", { class: `badge ${state}` }, t(`state.${state}`)));
    if (state === "wrap_up" && p.wrap_up_until) {
      const left = (new Date(p.wrap_up_until) - Date.now()) / 1000;
      if (left > 0) stateLine.append(" · ", t("c.wrap_until", { d: fmtDuration(left) }));
    }
  }

  async function loadPresence() {
    try {
      s.presence = await get("/api/v1/me/presence");
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) s.presence = null;
      else throw err;
    }
    showPresence();
    if (s.presence && s.presence.call_id && s.presence.call_id !== s.callId) {
      await showCall(s.presence.call_id, s.presence.state === "reserved" ? "ringing" : "on");
    } else if (!s.callId) {
      idleCall();
    }
  }

  async function setAvailability(state) {
    presenceError.textContent = "";
    try {
      s.presence = await put("/api/v1/me/presence", { state });
      showPresence();
      if (!s.callId) idleCall();
    } catch (err) {
      presenceError.textContent = err.status === 422 && err.field === "switchboard" ? t("c.no_extension") : err.message;
      showPresence();
    }
  }

  // ---- the call ----------------------------------------------------------------------------------

  function idleCall() {
    s.callId = null;
    s.mode = null;
    callBox.classList.remove("ringing");
    const on = s.presence && s.presence.state === "available";
    clear(callBox).append(
      h("h2", { id: "call-title" }, t("wrap.title")),
      h("p", { class: "muted" }, on ? t("c.waiting") : t("c.waiting.off")),
    );
  }

  async function showCall(callId, mode) {
    const fresh = s.callId !== callId;
    s.callId = callId;
    s.mode = mode;
    callBox.classList.toggle("ringing", mode === "ringing");
    const title = {
      ringing: t("c.call.ringing"),
      on: t("c.call.on"),
      wrap: t("c.call.wrap"),
      past: t("c.call.past", { id: callId }),
    }[mode];
    if (!fresh) {
      const heading = callBox.querySelector("#call-title");
      if (heading) heading.textContent = title;
      // answered or ended: the facts change (the number, once it is mine; the talk time)
      const call = await get(`/api/v1/calls/${callId}`).catch(() => null);
      const old = callBox.querySelector("dl.facts");
      if (call && old && s.callId === callId) old.replaceWith(facts(call));
      if (mode !== "wrap" && mode !== "past") return;
      if (callBox.querySelector("form.wrapup, .wrapped")) return;
    }
    const [call, history, record] = await Promise.all([
      get(`/api/v1/calls/${callId}`).catch(() => null),
      get(`/api/v1/calls/${callId}/history`).catch(() => null),
      get(`/api/v1/calls/${callId}/contact`).catch(() => null),
    ]);
    if (s.callId !== callId || s.stopped) return;
    const codes = await ctx.codes();
    clear(callBox).append(h("h2", { id: "call-title" }, title));
    if (call) callBox.append(facts(call));
    callBox.append(historyBlock(history, codes));
    const after = h("div", { class: "after" });
    if (record) {
      callBox.append(h("p", { class: "notice ok wrapped" }, t("wrap.done", { type: codeLabel(codes, "contact_type", record.contact_type) })));
      await followUp(record, history, after);
    } else {
      callBox.append(
        h("h3", {}, t("wrap.title")),
        await wrapUpForm(ctx, callId, async (saved) => {
          const form = callBox.querySelector("form.wrapup");
          if (form) form.replaceWith(h("p", { class: "notice ok wrapped" }, t("wrap.done", { type: codeLabel(codes, "contact_type", saved.contact_type) })));
          await followUp(saved, history, after);
          loadOverdue();
        }),
      );
    }
    callBox.append(after);
    if (fresh && mode === "ringing") {
      announce.textContent = t("c.call.ringing");
      callBox.focus({ preventScroll: true });
    }
  }

  function facts(call) {
    const number = call.caller_number_shown ? nationalNumber(call.caller_number) : t("c.number.hidden");
    return h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("c.number")),
      h("dd", { class: "caller-number" }, number),
      h("dt", {}, t("c.province")),
      h("dd", {}, call.caller_province || "—"),
      h("dt", {}, t("c.region")),
      h("dd", {}, call.caller_region ? t(`region.${call.caller_region}`) : "—"),
      h("dt", {}, t("c.switchboard")),
      h("dd", {}, t(`board.${call.switchboard}`)),
      h("dt", {}, t("c.dialled")),
      h("dd", {}, call.dialled_number || "—"),
      h("dt", {}, t("c.started")),
      h("dd", {}, fmtDateTime(call.started_at)),
      h("dt", {}, t("c.waited")),
      h("dd", {}, fmtDuration(call.wait_seconds)),
      call.talk_seconds !== null ? [h("dt", {}, t("c.talk")), h("dd", {}, fmtDuration(call.talk_seconds))] : null,
    );
  }

  function historyBlock(history, codes) {
    const box = h("section", { class: "history", "aria-label": t("c.history") }, h("h3", {}, t("c.history")));
    if (!history) return box;
    if (!history.known_number) {
      box.append(h("p", { class: "muted" }, t("c.history.withheld")));
      return box;
    }
    if (!history.calls.length && !history.open_cases.length) {
      box.append(h("p", { class: "muted" }, t("c.history.first")));
      return box;
    }
    if (history.open_cases.length) {
      box.append(
        h("h4", {}, t("c.history.cases")),
        h(
          "ul",
          {},
          history.open_cases.map((c) =>
            h("li", {}, h("a", { href: `#/cases/${c.id}` }, c.reference), " · ", t(`status.${c.status}`), " · ", fmtDateTime(c.updated_at)),
          ),
        ),
      );
    }
    if (history.calls.length) {
      box.append(
        table(
          [
            { text: t("c.when"), value: (c) => fmtDateTime(c.started_at) },
            { text: t("c.outcome"), value: (c) => t(`outcome.${c.outcome}`) },
            { text: t("c.type"), value: (c) => (c.contact_type ? codeLabel(codes, "contact_type", c.contact_type) : "—") },
            { text: t("c.case"), value: (c) => (c.case_id ? h("a", { href: `#/cases/${c.case_id}` }, `#${c.case_id}`) : "—") },
          ],
          history.calls,
          { caption: t("c.history.calls") },
        ),
      );
    }
    return box;
  }

  // each referral made from this call is listed above the form
  function referred(r) {
    const form = callBox.querySelector("form.referral");
    if (form) form.before(h("p", { class: "notice ok" }, t("ref.created", { p: r.partner_name })));
    loadCases();
  }

  async function followUp(record, history, after) {
    clear(after);
    if (record.case_id) {
      after.append(
        h("p", {}, t("case.of_call", { ref: `#${record.case_id}` }), " ", h("a", { href: `#/cases/${record.case_id}` }, t("case.view"))),
        h("h3", {}, t("ref.title")),
        await referralForm(ctx, record.case_id, referred),
      );
      return;
    }
    after.append(
      caseActions(ctx, record, history ? history.open_cases : [], async (c) => {
        clear(after).append(
          h("p", { class: "notice ok" }, t("case.of_call", { ref: c.reference }), " ", h("a", { href: `#/cases/${c.id}` }, t("case.view"))),
          h("h3", {}, t("ref.title")),
          await referralForm(ctx, c.id, referred),
        );
        loadCases();
      }),
    );
  }

  // ---- my lists ----------------------------------------------------------------------------------

  async function loadCases() {
    const cases = await get("/api/v1/me/cases");
    clear(casesBox).append(
      h("h2", { id: "mycases-title" }, t("c.my_cases")),
      table(
        [
          { text: t("c.reference"), value: (c) => h("a", { href: `#/cases/${c.id}` }, c.reference) },
          { text: t("c.status"), value: (c) => t(`status.${c.status}`) },
          { text: t("c.updated"), value: (c) => fmtDateTime(c.updated_at) },
        ],
        cases,
      ),
    );
  }

  async function loadOverdue() {
    const rows = await get("/api/v1/me/overdue-contacts?pending=true");
    const list = rows;
    clear(overdueBox).append(
      h("h2", { id: "overdue-title" }, t("c.overdue")),
      table(
        [
          { text: t("c.ended"), value: (r) => fmtTime(r.ended_at) },
          {
            text: t("c.due"),
            value: (r) =>
              new Date(r.due_at) <= Date.now() ? h("span", { class: "badge danger" }, fmtTime(r.due_at)) : fmtTime(r.due_at),
          },
          {
            text: "",
            value: (r) =>
              h("button", { type: "button", onclick: () => showCall(r.call_id, "past") }, t("c.overdue.do"), h("span", { class: "visually-hidden" }, ` #${r.call_id}`)),
          },
        ],
        list,
      ),
    );
    return list;
  }

  // ---- live --------------------------------------------------------------------------------------

  const stopLive = ctx.onLive(async (kind, data) => {
    try {
      if (kind === "reconnected") {
        await loadPresence();
        return;
      }
      if (kind === "presence" && data.user_id === me) {
        const before = s.presence ? s.presence.state : null;
        s.presence = { ...(s.presence || {}), ...data };
        showPresence();
        if (data.call_id && (data.state === "reserved" || data.state === "on_call")) {
          await showCall(data.call_id, data.state === "reserved" ? "ringing" : "on");
        } else if (data.state === "wrap_up" && s.callId) {
          await showCall(s.callId, "wrap");
          loadOverdue();
        } else if (before === "reserved" && data.state !== "on_call" && s.mode === "ringing") {
          idleCall(); // the offer went elsewhere, or the caller hung up while it rang
        } else if (!s.callId) {
          idleCall();
        }
      } else if (kind === "queue" && data.offered_user_id === me && data.status === "offered") {
        await showCall(data.call_id, "ringing");
      }
    } catch (err) {
      ctx.error(err);
    }
  });

  ctx.setBusy(() => s.presence && ["reserved", "on_call"].includes(s.presence.state));
  s.tick = setInterval(() => s.presence && s.presence.state === "wrap_up" && showPresence(), 1000);

  await Promise.all([loadPresence(), loadCases(), loadOverdue()]);
  if (!s.callId && s.presence && s.presence.state === "wrap_up") {
    const pending = await get("/api/v1/me/overdue-contacts?pending=true");
    if (pending.length) await showCall(pending[pending.length - 1].call_id, "wrap");
  }

  return () => {
    s.stopped = true;
    stopLive();
    clearInterval(s.tick);
  };
}
