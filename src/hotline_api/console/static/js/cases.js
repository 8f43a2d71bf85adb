// Cases: the list to review (a counsellor's own and their switchboard's; a supervisor's switchboard;
// a national supervisor's all), and one case with its people, wrap-ups, notes, history and referrals.
// Only ids are in the address (#/cases/123), never a name or a number.
import { get, post, put, query } from "./api.js";
import { addStrings, label, t } from "./i18n.js";
import { clear, field, fmtDateTime, formValues, h, select, table, toast } from "./ui.js";
import { codeLabel, referralForm } from "./wrapup.js";

addStrings({
  vi: {
    "k.title": "Hồ sơ vụ việc",
    "k.filter": "Lọc theo trạng thái",
    "k.filter.active": "Đang xử lý (mở, theo dõi, đã chuyển gửi)",
    "k.filter.unassigned": "Chỉ hồ sơ chưa phân công",
    "k.find": "Tìm theo mã hồ sơ",
    "k.find.go": "Tìm",
    "k.find.none": "Không tìm thấy hồ sơ {ref}.",
    "k.total": "{n} hồ sơ",
    "k.reference": "Mã hồ sơ",
    "k.board": "Tổng đài",
    "k.status": "Trạng thái",
    "k.assignee": "Người phụ trách",
    "k.unassigned": "Chưa phân công",
    "k.opened": "Mở ngày",
    "k.updated": "Cập nhật",
    "k.back": "← Danh sách hồ sơ",
    "k.summary": "Tóm tắt",
    "k.persons": "Người liên quan",
    "k.person.role": "Vai trò",
    "k.person.name": "Họ tên",
    "k.person.phone": "Điện thoại",
    "k.person.age": "Nhóm tuổi",
    "k.person.sex": "Giới tính",
    "k.person.destination": "Nước đến (mã ISO, ví dụ CN)",
    "k.person.risk": "Mức độ rủi ro",
    "k.person.add": "Thêm người",
    "k.records": "Ghi nhận cuộc gọi",
    "k.notes": "Ghi chú",
    "k.note.add": "Thêm ghi chú",
    "k.note.text": "Nội dung ghi chú",
    "k.timeline": "Diễn biến",
    "k.status.change": "Đổi trạng thái",
    "k.status.reason": "Lý do",
    "k.assign": "Phân công cho",
    "k.assign.do": "Phân công",
    "k.assigned": "Đã phân công hồ sơ.",
    "k.referrals": "Chuyển gửi",
    "k.ref.partner": "Đơn vị",
    "k.ref.type": "Loại hỗ trợ",
    "k.ref.status": "Trạng thái",
    "k.ref.move": "Chuyển sang",
    "k.ref.outcome": "Kết quả",
    "k.ref.reason": "Lý do",
    "k.ref.moved": "Đã cập nhật chuyển gửi.",
    "status.referred": "Đã chuyển gửi",
  },
  en: {
    "k.title": "Cases",
    "k.filter": "Status",
    "k.filter.active": "Active (open, follow-up, referred)",
    "k.filter.unassigned": "Unassigned only",
    "k.find": "Find by reference",
    "k.find.go": "Find",
    "k.find.none": "No case {ref}.",
    "k.total": "{n} cases",
    "k.reference": "Reference",
    "k.board": "Switchboard",
    "k.status": "Status",
    "k.assignee": "Assigned to",
    "k.unassigned": "Unassigned",
    "k.opened": "Opened",
    "k.updated": "Updated",
    "k.back": "← All cases",
    "k.summary": "Summary",
    "k.persons": "People",
    "k.person.role": "Role",
    "k.person.name": "Name",
    "k.person.phone": "Phone",
    "k.person.age": "Age group",
    "k.person.sex": "Sex",
    "k.person.destination": "Destination country (ISO code, e.g. CN)",
    "k.person.risk": "Risk level",
    "k.person.add": "Add a person",
    "k.records": "Wrap-ups",
    "k.notes": "Notes",
    "k.note.add": "Add a note",
    "k.note.text": "Note",
    "k.timeline": "History",
    "k.status.change": "Change the status",
    "k.status.reason": "Reason",
    "k.assign": "Assign to",
    "k.assign.do": "Assign",
    "k.assigned": "The case is assigned.",
    "k.referrals": "Referrals",
    "k.ref.partner": "Partner",
    "k.ref.type": "Kind of help",
    "k.ref.status": "Status",
    "k.ref.move": "Move to",
    "k.ref.outcome": "Outcome",
    "k.ref.reason": "Reason",
    "k.ref.moved": "Referral updated.",
    "status.referred": "Referred",
  },
});

const MOVES = {
  draft: ["sent", "revoked"],
  sent: ["accepted", "rejected", "revoked"],
  accepted: ["in_progress", "revoked"],
  in_progress: ["done", "revoked"],
};

export async function mount(root, ctx, param) {
  if (param && /^\d+$/.test(param)) return showCase(root, ctx, Number(param));
  return showList(root, ctx);
}

async function people(ctx) {
  // the names of counsellors a supervisor can see (for the assignee column and the reassignment)
  if (!ctx.has("supervisor", "national_supervisor")) return new Map();
  const presence = await get("/api/v1/presence").catch(() => []);
  return new Map(presence.map((p) => [p.user_id, p.display_name || p.username]));
}

async function showList(root, ctx) {
  const names = await people(ctx);
  const statusChoice = select(
    "status",
    [
      { value: "active", text: t("k.filter.active") },
      ...["open", "follow_up", "closed", "all"].map((v) => ({ value: v, text: v === "all" ? "∗" : t(`status.${v}`) })),
    ],
    { empty: false },
  );
  const unassigned = h("input", { type: "checkbox", name: "unassigned" });
  const ref = h("input", { name: "reference", placeholder: "111-2026-000123", autocomplete: "off" });
  const listBox = h("div", {});
  const load = async () => {
    const page = await get(`/api/v1/cases${query({ status: statusChoice.value, unassigned: unassigned.checked ? "true" : "" })}`);
    clear(listBox).append(
      h("p", { class: "muted" }, t("k.total", { n: page.total })),
      table(
        [
          { text: t("k.reference"), value: (c) => h("a", { href: `#/cases/${c.id}` }, c.reference) },
          { text: t("k.board"), value: (c) => t(`board.${c.switchboard}`) },
          { text: t("k.status"), value: (c) => t(`status.${c.status}`) },
          { text: t("k.assignee"), value: (c) => (c.assigned_user_id ? names.get(c.assigned_user_id) || `#${c.assigned_user_id}` : h("span", { class: "badge" }, t("k.unassigned"))) },
          { text: t("k.opened"), value: (c) => fmtDateTime(c.opened_at) },
          { text: t("k.updated"), value: (c) => fmtDateTime(c.updated_at) },
        ],
        page.cases,
      ),
    );
  };
  statusChoice.addEventListener("change", () => load().catch(ctx.error));
  unassigned.addEventListener("change", () => load().catch(ctx.error));
  const find = h(
    "form",
    { class: "row" },
    field(t("k.find"), ref),
    h("button", { type: "submit" }, t("k.find.go")),
  );
  find.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!ref.value.trim()) return;
    try {
      const found = await post("/api/v1/cases/search", { reference: ref.value.trim() });
      if (found.length) ctx.navigate(`#/cases/${found[0].id}`);
      else toast(t("k.find.none", { ref: ref.value.trim() }), "error");
    } catch (err) {
      ctx.error(err);
    }
  });
  root.append(
    h("h1", {}, t("k.title")),
    h(
      "section",
      { class: "card" },
      h("div", { class: "row" }, field(t("k.filter"), statusChoice), h("label", { class: "inline" }, unassigned, " ", t("k.filter.unassigned")), find),
      listBox,
    ),
  );
  await load();
}

async function showCase(root, ctx, caseId) {
  const codes = await ctx.codes();
  const names = await people(ctx);
  const [c, referrals] = await Promise.all([get(`/api/v1/cases/${caseId}`), get(`/api/v1/cases/${caseId}/referrals`)]);
  const refresh = () => {
    clear(root);
    showCase(root, ctx, caseId).catch(ctx.error);
  };
  const supervisor = ctx.has("supervisor", "national_supervisor");
  const codeSelect = (name, list, opts) =>
    select(name, (codes[list]?.codes || []).filter((x) => !x.retired).map((x) => ({ value: x.code, text: label(x) })), opts);

  // status and assignment
  const statusForm = h(
    "form",
    { class: "row" },
    field(t("k.status.change"), select("status", ["open", "follow_up", "closed"].map((v) => ({ value: v, text: t(`status.${v}`) })), { value: c.status })),
    field(t("k.status.reason"), h("input", { name: "reason", maxlength: 2000 })),
    h("button", { type: "submit" }, t("save")),
  );
  statusForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = formValues(statusForm);
    try {
      await post(`/api/v1/cases/${caseId}/status`, { status: v.status, reason: v.reason });
      toast(t("saved"), "ok");
      refresh();
    } catch (err) {
      ctx.error(err);
    }
  });
  let assignForm = null;
  if (supervisor) {
    const choice = select("user_id", [...names].map(([id, name]) => ({ value: String(id), text: name })), { value: String(c.assigned_user_id || "") });
    assignForm = h("form", { class: "row" }, field(t("k.assign"), choice), h("button", { type: "submit" }, t("k.assign.do")));
    assignForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!choice.value) return;
      try {
        await put(`/api/v1/cases/${caseId}/assignee`, { user_id: Number(choice.value) });
        toast(t("k.assigned"), "ok");
        refresh();
      } catch (err) {
        ctx.error(err);
      }
    });
  }

  // people
  const personForm = h(
    "form",
    { class: "person-form" },
    h(
      "div",
      { class: "row" },
      field(t("k.person.role"), codeSelect("role", "person_role", { value: "victim", empty: false })),
      field(t("k.person.name"), h("input", { name: "name", maxlength: 200, autocomplete: "off" })),
      field(t("k.person.phone"), h("input", { name: "phone", maxlength: 40, autocomplete: "off", inputmode: "tel" })),
    ),
    h(
      "div",
      { class: "row" },
      field(t("k.person.age"), codeSelect("age_group", "age_group")),
      field(t("k.person.sex"), codeSelect("sex", "sex")),
      field(t("k.person.destination"), h("input", { name: "destination_country", maxlength: 2, pattern: "[A-Za-z]{2}" })),
      field(t("k.person.risk"), codeSelect("risk_level", "risk_level")),
    ),
    h("button", { type: "submit" }, t("k.person.add")),
  );
  personForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = formValues(personForm);
    if (v.destination_country) v.destination_country = v.destination_country.toUpperCase();
    try {
      await post(`/api/v1/cases/${caseId}/persons`, v);
      toast(t("saved"), "ok");
      refresh();
    } catch (err) {
      ctx.error(err);
    }
  });

  // notes
  const noteText = h("textarea", { name: "text", rows: 3, maxlength: 20000, required: true });
  const noteForm = h("form", {}, field(t("k.note.text"), noteText), h("button", { type: "submit" }, t("k.note.add")));
  noteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await post(`/api/v1/cases/${caseId}/notes`, { text: noteText.value });
      toast(t("saved"), "ok");
      refresh();
    } catch (err) {
      ctx.error(err);
    }
  });

  // referrals and their moves
  const referralRows = table(
    [
      { text: t("k.ref.partner"), value: (r) => r.partner_name },
      { text: t("k.ref.type"), value: (r) => codeLabel(codes, "referral_type", r.referral_type) },
      { text: t("k.ref.status"), value: (r) => codeLabel(codes, "referral_status", r.status) },
      { text: t("k.ref.move"), value: (r) => moveControl(ctx, codes, r, refresh) },
    ],
    referrals.referrals || referrals,
  );

  root.append(
    h("p", {}, h("a", { href: "#/cases" }, t("k.back"))),
    h("h1", {}, `${c.reference} · `, t(`status.${c.status}`)),
    h(
      "div",
      { class: "grid two" },
      h(
        "div",
        {},
        h("section", { class: "card" }, h("h2", {}, t("k.summary")), h("p", { class: "prewrap" }, c.summary || "—"), statusForm, assignForm),
        h(
          "section",
          { class: "card" },
          h("h2", {}, t("k.persons")),
          table(
            [
              { text: t("k.person.role"), value: (p) => codeLabel(codes, "person_role", p.role) },
              { text: t("k.person.name"), value: (p) => p.name || "—" },
              { text: t("k.person.phone"), value: (p) => (p.phone_shown ? p.phone || "—" : "∗∗∗") },
              { text: t("k.person.destination"), value: (p) => p.destination_country || "—" },
            ],
            c.persons,
          ),
          h("h3", {}, t("k.person.add")),
          personForm,
        ),
        h(
          "section",
          { class: "card" },
          h("h2", {}, t("k.referrals")),
          referralRows,
          h("h3", {}, t("ref.create")),
          await referralForm(ctx, caseId, refresh),
        ),
      ),
      h(
        "div",
        {},
        h(
          "section",
          { class: "card" },
          h("h2", {}, t("k.records")),
          table(
            [
              { text: t("k.opened"), value: (r) => fmtDateTime(r.created_at) },
              { text: t("wrap.contact_type"), value: (r) => codeLabel(codes, "contact_type", r.contact_type) },
              { text: t("wrap.caller_category"), value: (r) => codeLabel(codes, "caller_category", r.caller_category) },
              { text: t("k.notes"), value: (r) => h("span", { class: "prewrap" }, r.notes || "—") },
            ],
            c.contact_records,
          ),
        ),
        h("section", { class: "card" }, h("h2", {}, t("k.notes")), noteForm),
        h(
          "section",
          { class: "card" },
          h("h2", {}, t("k.timeline")),
          h(
            "ol",
            { class: "timeline" },
            c.timeline
              .slice()
              .reverse()
              .map((e) =>
                h(
                  "li",
                  {},
                  h("small", {}, fmtDateTime(e.at)),
                  " · ",
                  e.kind,
                  e.actor_user_id ? ` · ${names.get(e.actor_user_id) || `#${e.actor_user_id}`}` : "",
                  e.text ? h("div", { class: "prewrap" }, e.text) : null,
                ),
              ),
          ),
        ),
      ),
    ),
  );
}

function moveControl(ctx, codes, r, refresh) {
  const moves = MOVES[r.status] || [];
  if (!moves.length) return "—";
  const to = select("to", moves.map((m) => ({ value: m, text: codeLabel(codes, "referral_status", m) })));
  to.setAttribute("aria-label", `${t("k.ref.move")}: ${r.partner_name}`);
  const outcome = select("outcome", (codes.referral_outcome?.codes || []).map((x) => ({ value: x.code, text: label(x) })));
  outcome.setAttribute("aria-label", t("k.ref.outcome"));
  const reason = h("input", { name: "reason", "aria-label": t("k.ref.reason"), maxlength: 2000 });
  outcome.hidden = true;
  reason.hidden = true;
  to.addEventListener("change", () => {
    outcome.hidden = to.value !== "done";
    reason.hidden = !["rejected", "revoked"].includes(to.value);
  });
  const form = h("form", { class: "row move" }, to, outcome, reason, h("button", { type: "submit" }, t("save")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!to.value) return;
    try {
      await post(`/api/v1/referrals/${r.id}/transitions`, {
        to: to.value,
        outcome: to.value === "done" ? outcome.value || null : null,
        reason: reason.value || null,
      });
      toast(t("k.ref.moved"), "ok");
      refresh();
    } catch (err) {
      ctx.error(err);
    }
  });
  return form;
}
