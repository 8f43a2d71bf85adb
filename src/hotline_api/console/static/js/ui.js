// Small DOM helpers. Every piece of data reaches the page as text (textContent, attributes), never
// as HTML: a caller's words in a note cannot become markup or script.

import { lang, t } from "./i18n.js";

// h("button", {class: "primary", onclick: fn}, "text", childNode, [more, children])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let fieldSeq = 0;
export function uid(prefix = "f") {
  fieldSeq += 1;
  return `${prefix}-${fieldSeq}`;
}

// a labelled form field: field(t("x"), h("input", {...}), hint?)
export function field(text, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, text), control, hintEl);
}

// a <select> from [{value, text}], with an empty first choice unless required
export function select(name, options, { value = "", required = false, empty = true } = {}) {
  const el = h("select", { name, required });
  if (empty) el.append(h("option", { value: "" }, t("choose")));
  for (const o of options) el.append(h("option", { value: o.value, selected: o.value === value }, o.text));
  return el;
}

const locale = () => (lang() === "en" ? "en-GB" : "vi-VN");
const ZONE = "Asia/Ho_Chi_Minh";

export function fmtDateTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(locale(), {
    timeZone: ZONE,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function fmtTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString(locale(), {
    timeZone: ZONE,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  const rest = String(s % 60).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

export function fmtNumber(n, digits = 0) {
  if (n === null || n === undefined) return "—";
  if (typeof n === "string") return n; // a suppressed cell ("<5", "x") is shown as sent
  return n.toLocaleString(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtPercent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  if (typeof ratio === "string") return ratio;
  return `${fmtNumber(ratio * 100, 1)} %`;
}

// today in Vietnam as YYYY-MM-DD (for date inputs and report filters)
export function localDate(date = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: ZONE }).format(date);
}

// a table from columns [{text, value: row => cell}] and rows
export function table(columns, rows, { caption, empty } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("none"));
  return h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.text)))),
    h(
      "tbody",
      {},
      rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.value(r))))),
    ),
  );
}

// a quiet message at the foot of the screen, read out by screen readers
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// a modal dialog; resolves when closed. build(dialog, close) fills it.
export function modal(title, build) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "modal", "aria-labelledby": uid("dlg") });
    const heading = h("h2", { id: dialog.getAttribute("aria-labelledby") }, title);
    const close = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(heading);
    build(dialog, close);
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      close(undefined);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// the values of a form as an object; empty strings become null, checkboxes with one name a list
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox" && el.dataset.list !== undefined) {
      out[el.name] = out[el.name] || [];
      if (el.checked) out[el.name].push(el.value);
    } else if (el.type === "checkbox") {
      out[el.name] = el.checked;
    } else if (el.type === "radio") {
      if (el.checked) out[el.name] = el.value === "" ? null : el.value;
      else if (!(el.name in out)) out[el.name] = null;
    } else {
      out[el.name] = el.value === "" ? null : el.value;
    }
  }
  return out;
}
