// The wrap-up of a call (its contact record), and what follows from it: a case opened or linked,
// a referral made. Used by the counsellor's screen; the pieces are plain functions of the API.
import { get, post } from "./api.js";
import { addStrings, label, lang, t } from "./i18n.js";
import { field, formValues, h, modal, select, toast } from "./ui.js";

addStrings({
  vi: {
    "wrap.title": "Ghi nhận cuộc gọi",
    "wrap.caller_category": "Nhóm người gọi",
    "wrap.contact_type": "Loại cuộc gọi",
    "wrap.trafficking_related": "Liên quan đến mua bán người?",
    "wrap.trafficking_forms": "Hình thức mua bán người",
    "wrap.relationship": "Quan hệ với nạn nhân",
    "wrap.age_group": "Nhóm tuổi",
    "wrap.sex": "Giới tính",
    "wrap.province": "Tỉnh/thành phố",
    "wrap.language": "Ngôn ngữ cuộc gọi",
    "wrap.consent": "Đồng ý chia sẻ thông tin",
    "wrap.notes": "Ghi chú",
    "wrap.notes.hint": "Được mã hoá khi lưu. Không ghi số điện thoại vào đây nếu không cần thiết.",
    "wrap.save": "Lưu ghi nhận",
    "wrap.quick": "Ghi nhận nhanh",
    "wrap.quick.silent": "Im lặng",
    "wrap.quick.nuisance": "Quấy rối",
    "wrap.quick.wrong_number": "Nhầm số",
    "wrap.saved": "Đã lưu ghi nhận cuộc gọi.",
    "wrap.done": "Cuộc gọi này đã được ghi nhận: {type}.",
    "wrap.required": "Vui lòng chọn {f}.",
    "case.open": "Mở hồ sơ mới",
    "case.link": "Gắn vào hồ sơ",
    "case.link.choose": "Hồ sơ đang mở của người gọi",
    "case.summary": "Tóm tắt vụ việc",
    "case.opened": "Đã mở hồ sơ {ref}.",
    "case.linked": "Đã gắn cuộc gọi vào hồ sơ {ref}.",
    "case.of_call": "Hồ sơ của cuộc gọi: {ref}",
    "case.view": "Xem hồ sơ",
    "ref.title": "Chuyển gửi hỗ trợ",
    "ref.create": "Tạo chuyển gửi",
    "ref.partner": "Đơn vị tiếp nhận",
    "ref.type": "Loại hỗ trợ",
    "ref.consent": "Sự đồng ý",
    "ref.consent.given": "Nạn nhân đã đồng ý",
    "ref.consent.emergency_override": "Khẩn cấp — giám sát viên quyết định",
    "ref.override_reason": "Lý do không thể chờ sự đồng ý",
    "ref.created": "Đã tạo chuyển gửi tới {p}.",
    "lang.vi": "Tiếng Việt",
    "lang.en": "Tiếng Anh",
    "lang.zh": "Tiếng Trung",
    "lang.km": "Tiếng Khmer",
    "lang.lo": "Tiếng Lào",
    "lang.th": "Tiếng Thái",
    "lang.hmn": "Tiếng H'Mông",
    "lang.ko": "Tiếng Hàn",
  },
  en: {
    "wrap.title": "Wrap-up",
    "wrap.caller_category": "Caller category",
    "wrap.contact_type": "Contact type",
    "wrap.trafficking_related": "Related to trafficking?",
    "wrap.trafficking_forms": "Forms of trafficking",
    "wrap.relationship": "Relationship to the victim",
    "wrap.age_group": "Age group",
    "wrap.sex": "Sex",
    "wrap.province": "Province",
    "wrap.language": "Language of the call",
    "wrap.consent": "Consent to share information",
    "wrap.notes": "Notes",
    "wrap.notes.hint": "Encrypted when saved. Leave phone numbers out unless needed.",
    "wrap.save": "Save the wrap-up",
    "wrap.quick": "Quick wrap-up",
    "wrap.quick.silent": "Silent",
    "wrap.quick.nuisance": "Nuisance",
    "wrap.quick.wrong_number": "Wrong number",
    "wrap.saved": "The wrap-up is saved.",
    "wrap.done": "This call has its wrap-up: {type}.",
    "wrap.required": "Please choose {f}.",
    "case.open": "Open a new case",
    "case.link": "Link to a case",
    "case.link.choose": "The caller's open cases",
    "case.summary": "Summary",
    "case.opened": "Case {ref} opened.",
    "case.linked": "The call is linked to case {ref}.",
    "case.of_call": "The call's case: {ref}",
    "case.view": "View the case",
    "ref.title": "Referral",
    "ref.create": "Make a referral",
    "ref.partner": "Partner",
    "ref.type": "Kind of help",
    "ref.consent": "Consent",
    "ref.consent.given": "The victim consented",
    "ref.consent.emergency_override": "Emergency — a supervisor decides",
    "ref.override_reason": "Why it cannot wait for consent",
    "ref.created": "Referral to {p} created.",
    "lang.vi": "Vietnamese",
    "lang.en": "English",
    "lang.zh": "Chinese",
    "lang.km": "Khmer",
    "lang.lo": "Lao",
    "lang.th": "Thai",
    "lang.hmn": "Hmong",
    "lang.ko": "Korean",
  },
});

const LANGUAGES = ["vi", "en", "zh", "km", "lo", "th", "hmn", "ko"];
let provinces = null;

function codeOptions(list, { withRetired = false } = {}) {
  if (!list) return [];
  return list.codes.filter((c) => withRetired || !c.retired).map((c) => ({ value: c.code, text: label(c) }));
}

export function codeLabel(codes, listName, code) {
  const list = codes[listName];
  const found = list && list.codes.find((c) => c.code === code);
  return found ? label(found) : code || "—";
}

// the wrap-up form for one call; onSaved(contactRecord) after a save or a quick wrap-up
export async function wrapUpForm(ctx, callId, onSaved) {
  const codes = await ctx.codes();
  if (!provinces) provinces = await get("/api/v1/reference/provinces");
  const error = h("p", { class: "form-error", role: "alert" });
  const radio = (name, value, text, checked) =>
    h("label", {}, h("input", { type: "radio", name, value, checked }), text);
  const forms = codeOptions(codes.trafficking_form).map((o) =>
    h("label", {}, h("input", { type: "checkbox", name: "trafficking_forms", value: o.value, dataset: { list: "" } }), o.text),
  );
  const form = h(
    "form",
    { class: "wrapup", "aria-label": t("wrap.title"), novalidate: true },
    h(
      "div",
      { class: "row" },
      field(t("wrap.caller_category"), select("caller_category", codeOptions(codes.caller_category), { required: true })),
      field(t("wrap.contact_type"), select("contact_type", codeOptions(codes.contact_type), { required: true })),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("wrap.trafficking_related")),
      h(
        "div",
        { class: "choices" },
        radio("trafficking_related", "true", t("yes")),
        radio("trafficking_related", "false", t("no")),
        radio("trafficking_related", "", t("unknown"), true),
      ),
    ),
    h("fieldset", {}, h("legend", {}, t("wrap.trafficking_forms")), h("div", { class: "choices" }, forms)),
    h(
      "div",
      { class: "row" },
      field(t("wrap.relationship"), select("relationship", codeOptions(codes.relationship))),
      field(t("wrap.age_group"), select("age_group", codeOptions(codes.age_group))),
      field(t("wrap.sex"), select("sex", codeOptions(codes.sex))),
    ),
    h(
      "div",
      { class: "row" },
      field(t("wrap.province"), select("province", provinces.map((p) => ({ value: p.code, text: lang() === "en" ? p.name_en : p.name_vi })))),
      field(
        t("wrap.language"),
        select(
          "language",
          LANGUAGES.map((l) => ({ value: l, text: t(`lang.${l}`) })),
          { value: "vi" },
        ),
      ),
      field(t("wrap.consent"), select("consent", codeOptions(codes.consent))),
    ),
    field(t("wrap.notes"), h("textarea", { name: "notes", rows: 4, maxlength: 20000 }), t("wrap.notes.hint")),
    error,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("wrap.save")),
      h("span", { class: "muted" }, t("wrap.quick"), ":"),
      ["silent", "nuisance", "wrong_number"].map((kind) =>
        h(
          "button",
          {
            type: "button",
            dataset: { quick: kind },
            onclick: async (e) => {
              e.currentTarget.disabled = true;
              try {
                const saved = await post(`/api/v1/calls/${callId}/contact/quick`, { kind });
                toast(t("wrap.saved"), "ok");
                onSaved(saved);
              } catch (err) {
                error.textContent = err.message;
                e.currentTarget.disabled = false;
              }
            },
          },
          t(`wrap.quick.${kind}`),
        ),
      ),
    ),
  );
  form.addEventListener("change", (e) => {
    if (e.target.getAttribute("aria-invalid")) {
      e.target.removeAttribute("aria-invalid");
      error.textContent = "";
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const v = formValues(form);
    const body = {
      caller_category: v.caller_category,
      contact_type: v.contact_type,
      trafficking_related: v.trafficking_related === null ? null : v.trafficking_related === "true",
      trafficking_forms: v.trafficking_forms || [],
      relationship: v.relationship,
      age_group: v.age_group,
      sex: v.sex,
      province: v.province,
      language: v.language,
      consent: v.consent,
      notes: v.notes,
    };
    for (const required of ["caller_category", "contact_type"]) {
      if (!body[required]) {
        const el = form.elements[required];
        el.setAttribute("aria-invalid", "true");
        el.focus();
        error.textContent = t("wrap.required", { f: t(`wrap.${required}`).toLowerCase() });
        return;
      }
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const saved = await post(`/api/v1/calls/${callId}/contact`, body);
      toast(t("wrap.saved"), "ok");
      onSaved(saved);
    } catch (err) {
      error.textContent = err.message;
      const el = err.field && form.elements[err.field.split(".").pop()];
      if (el && el.setAttribute) {
        el.setAttribute("aria-invalid", "true");
        el.focus();
      }
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// after the wrap-up: open a case, or link the record to one of the caller's open cases
export function caseActions(ctx, record, openCases, onCase) {
  const box = h("div", { class: "case-actions" });
  const openButton = h(
    "button",
    {
      type: "button",
      class: "primary",
      onclick: async () => {
        const summary = await modal(t("case.open"), (dialog, close) => {
          const text = h("textarea", { name: "summary", rows: 4, maxlength: 5000 });
          const f = h(
            "form",
            {},
            field(t("case.summary"), text),
            h(
              "div",
              { class: "actions" },
              h("button", { type: "submit", class: "primary" }, t("case.open")),
              h("button", { type: "button", onclick: () => close(undefined) }, t("cancel")),
            ),
          );
          f.addEventListener("submit", (e) => {
            e.preventDefault();
            close(text.value);
          });
          dialog.append(f);
          text.focus();
        });
        if (summary === undefined) return;
        try {
          const opened = await post("/api/v1/cases", { contact_record_id: record.id, summary: summary || null });
          toast(t("case.opened", { ref: opened.reference }), "ok");
          onCase(opened);
        } catch (err) {
          ctx.error(err);
        }
      },
    },
    t("case.open"),
  );
  box.append(openButton);
  if (openCases.length) {
    const choice = select(
      "case",
      openCases.map((c) => ({ value: String(c.id), text: `${c.reference} · ${t(`status.${c.status}`)}` })),
      { empty: false },
    );
    box.append(
      h(
        "div",
        { class: "row" },
        field(t("case.link.choose"), choice),
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                const linked = await post(`/api/v1/cases/${choice.value}/contacts`, { contact_record_id: record.id });
                toast(t("case.linked", { ref: linked.reference }), "ok");
                onCase(linked);
              } catch (err) {
                ctx.error(err);
              }
            },
          },
          t("case.link"),
        ),
      ),
    );
  }
  return box;
}

// a referral of a case to a partner
export async function referralForm(ctx, caseId, onCreated) {
  const codes = await ctx.codes();
  const partners = await get("/api/v1/partners?active=true&limit=500");
  const error = h("p", { class: "form-error", role: "alert" });
  const consents = ctx.has("supervisor", "national_supervisor") ? ["given", "emergency_override"] : ["given"];
  const reason = h("textarea", { name: "override_reason", rows: 2, maxlength: 2000 });
  const reasonField = field(t("ref.override_reason"), reason);
  reasonField.hidden = true;
  const form = h(
    "form",
    { class: "referral", "aria-label": t("ref.title"), novalidate: true },
    h(
      "div",
      { class: "row" },
      field(
        t("ref.partner"),
        select(
          "partner_id",
          partners.partners.map((p) => ({ value: String(p.id), text: `${p.name} (${codeLabel(codes, "partner_kind", p.kind)})` })),
          { required: true },
        ),
      ),
      field(t("ref.type"), select("referral_type", codeOptions(codes.referral_type), { required: true })),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("ref.consent")),
      h(
        "div",
        { class: "choices" },
        consents.map((c, i) =>
          h(
            "label",
            {},
            h("input", {
              type: "radio",
              name: "consent",
              value: c,
              checked: i === 0,
              onchange: () => (reasonField.hidden = form.elements.consent.value !== "emergency_override"),
            }),
            t(`ref.consent.${c}`),
          ),
        ),
      ),
    ),
    reasonField,
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("ref.create"))),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const v = formValues(form);
    if (!v.partner_id || !v.referral_type) {
      error.textContent = t("wrap.required", { f: t(v.partner_id ? "ref.type" : "ref.partner").toLowerCase() });
      return;
    }
    try {
      const created = await post(`/api/v1/cases/${caseId}/referrals`, {
        partner_id: Number(v.partner_id),
        referral_type: v.referral_type,
        consent: v.consent,
        override_reason: v.consent === "emergency_override" ? v.override_reason : null,
      });
      toast(t("ref.created", { p: created.partner_name }), "ok");
      form.reset();
      onCreated(created);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}
