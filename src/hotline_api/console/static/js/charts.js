// Small SVG charts, drawn here with document.createElementNS: no library, no outside resource, no
// inline style (colours come from css/analyst.css by class; sizes are SVG attributes). The server
// sends only the figures; a chart is a picture of a table that is shown next to it anyway.
//
// A suppressed cell arrives as a string ("<5", "x"): it is never drawn as a number. It becomes a
// hatched stub whose length says nothing (with its text beside it), or, in a stacked column whose
// total is known, the hatched remainder — the sum of the hidden cells, which the table gives by
// subtraction anyway (suppression always hides two cells of a table or none).
//
//   columnChart({title, categories: [{key, label, tick}], series: [{name, cls}],
//                values: [[n | "<5" | "x" | null per series] per category], totals: [n | "<5" per category]})
//   barChart({title, items: [{key, label}], series: [{name, cls}], values: [[...per series] per item]})
// Each returns a <figure> with the <svg role="img"> (its <title> and <desc>) and a legend.
import { addStrings, t } from "./i18n.js";
import { fmtNumber, h, uid } from "./ui.js";

addStrings({
  vi: {
    "ch.hidden": "Số liệu được ẩn (“<5”, “x”): độ dài không thể hiện giá trị",
    "ch.hidden.stack": "Phần gạch chéo: tổng các ô được ẩn (“<5”, “x”)",
    "ch.empty": "Không có số liệu trong khoảng thời gian này.",
    "ch.desc": "Biểu đồ {kind}: {n} mục. Số liệu chi tiết ở bảng đi kèm.",
    "ch.kind.column": "cột",
    "ch.kind.bar": "thanh ngang",
    "ch.legend": "Chú giải",
    "ch.total": "Tổng",
  },
  en: {
    "ch.hidden": "Hidden figures (“<5”, “x”): the length shows no value",
    "ch.hidden.stack": "Hatched: the hidden cells (“<5”, “x”) together",
    "ch.empty": "No figures for this period.",
    "ch.desc": "{kind} chart: {n} items. The figures are in the table with it.",
    "ch.kind.column": "Column",
    "ch.kind.bar": "Bar",
    "ch.legend": "Legend",
    "ch.total": "Total",
  },
});

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const isHidden = (v) => typeof v === "string"; // "<5" or "x", as sent

// a round step for about `count` grid lines up to max
function niceStep(max, count = 4) {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw) || 10;
  return Math.max(unit * power, 1);
}

function shorten(text, max) {
  const value = String(text);
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}

// the hatch for hidden cells, one per chart (ids are unique in the page)
function hatch() {
  const id = uid("hatch");
  const defs = s(
    "defs",
    {},
    s(
      "pattern",
      { id, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      s("rect", { width: 6, height: 6, class: "hatch-ground" }),
      s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }),
    ),
  );
  return { defs, fill: `url(#${id})` };
}

function frame(kind, title, count, width, height) {
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  const svg = s(
    "svg",
    {
      class: `chart ${kind}`,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": titleId,
      "aria-describedby": descId,
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", { id: titleId }, title),
    s("desc", { id: descId }, t("ch.desc", { kind: t(`ch.kind.${kind}`), n: count })),
  );
  return svg;
}

function legend(series, hiddenText) {
  if (series.length < 2 && !hiddenText) return null;
  const items = (series.length > 1 ? series : []).map((x) => h("li", {}, h("span", { class: `swatch ${x.cls}`, "aria-hidden": "true" }), x.name));
  if (hiddenText) items.push(h("li", {}, h("span", { class: "swatch hidden", "aria-hidden": "true" }), hiddenText));
  return h("ul", { class: "legend", "aria-label": t("ch.legend") }, items);
}

function figure(kind, svg, series, hiddenText, empty) {
  return h(
    "figure",
    { class: `chart-box ${kind}` },
    empty ? h("p", { class: "empty" }, t("ch.empty")) : svg,
    empty ? null : legend(series, hiddenText),
  );
}

// ---- vertical columns: a time series, one stacked column per period ---------------------------

export function columnChart({ title, categories, series, values, totals }) {
  const W = 1200;
  const H = 240;
  const m = { top: 14, right: 10, bottom: 34, left: 46 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const svg = frame("column", title, categories.length, W, H);
  const { defs, fill } = hatch();
  svg.append(defs);

  // the height of each column: its total when known, else the sum of its known parts
  const heights = categories.map((_, i) => {
    const known = values[i].filter(isNumber).reduce((a, b) => a + b, 0);
    return totals && isNumber(totals[i]) ? Math.max(totals[i], known) : known;
  });
  const max = Math.max(0, ...heights);
  const empty = !categories.length || (max === 0 && !values.flat().some(isHidden));
  const step = niceStep(Math.max(max, 1));
  const top = Math.max(step, Math.ceil(Math.max(max, 1) / step) * step);
  const y = (v) => m.top + plotH - (v / top) * plotH;

  const grid = s("g", { class: "grid-lines" });
  for (let v = 0; v <= (max > 0 ? top : 0) + 1e-9; v += step) {
    grid.append(
      s("line", { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid" }),
      s("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end" }, fmtNumber(v)),
    );
  }
  svg.append(grid);

  const band = plotW / Math.max(categories.length, 1);
  const barW = Math.max(2, Math.min(48, band * 0.72));
  const every = Math.ceil(categories.length / Math.max(1, Math.floor(plotW / 52)));
  let anyHidden = false;
  categories.forEach((cat, i) => {
    const x = m.left + band * i + (band - barW) / 2;
    const g = s("g", { class: "column" });
    let base = 0;
    const parts = [];
    series.forEach((ser, j) => {
      const v = values[i][j];
      parts.push(`${ser.name}: ${v === null || v === undefined ? "—" : fmtNumber(v)}`);
      if (!isNumber(v) || v <= 0) return;
      g.append(
        s("rect", { x, y: y(base + v), width: barW, height: Math.max(0, y(base) - y(base + v)), class: `bar ${ser.cls}` }),
      );
      base += v;
    });
    const hiddenHere = values[i].some(isHidden) || (totals && isHidden(totals[i]));
    if (hiddenHere) {
      anyHidden = true;
      const total = totals ? totals[i] : null;
      // the remainder when the total is known; else a stub that says nothing of its size
      const rest = isNumber(total) ? total - base : 0;
      const stub = rest > 0 ? y(base) - y(base + rest) : 6;
      g.append(s("rect", { x, y: y(base) - stub, width: barW, height: stub, fill, class: "cell-hidden" }));
      if (!isNumber(total) && isHidden(total)) {
        g.append(s("text", { x: x + barW / 2, y: y(base) - stub - 3, "text-anchor": "middle", class: "mark" }, total));
      }
    }
    if (totals && isNumber(totals[i]) && totals[i] > 0 && band >= 26) {
      const topAt = y(Math.max(totals[i], base));
      g.append(s("text", { x: x + barW / 2, y: topAt - 4, "text-anchor": "middle", class: "value" }, fmtNumber(totals[i])));
    }
    if (totals) parts.unshift(`${t("ch.total")}: ${fmtNumber(totals[i])}`);
    g.append(s("title", {}, `${cat.label} — ${parts.join("; ")}`));
    svg.append(g);
    if (i % every === 0) {
      svg.append(s("text", { x: m.left + band * i + band / 2, y: H - m.bottom + 15, "text-anchor": "middle" }, cat.tick ?? cat.label));
    }
  });
  return figure("column", svg, series, anyHidden ? t("ch.hidden.stack") : null, empty);
}

// ---- horizontal bars: a breakdown by category, one or more series side by side ------------------

export function barChart({ title, items, series, values }) {
  const W = 600;
  const labelW = 210;
  const valueW = 56;
  const perBar = series.length > 1 ? 12 : 16;
  const rowH = perBar * series.length + 10;
  const m = { top: 6, bottom: 6 };
  const H = m.top + m.bottom + Math.max(1, items.length) * rowH;
  const svg = frame("bar", title, items.length, W, H);
  const { defs, fill } = hatch();
  svg.append(defs);

  const max = Math.max(1, ...values.flat().filter(isNumber));
  const plotW = W - labelW - valueW - 8;
  const empty = !items.length;
  svg.append(s("line", { x1: labelW, x2: labelW, y1: m.top, y2: H - m.bottom, class: "axis" }));
  let anyHidden = false;
  items.forEach((item, i) => {
    const y0 = m.top + i * rowH + 5;
    const g = s("g", { class: "row" });
    g.append(
      s("text", { x: labelW - 8, y: y0 + (perBar * series.length) / 2 + 4, "text-anchor": "end", class: "label" }, shorten(item.label, 34)),
    );
    const parts = [];
    series.forEach((ser, j) => {
      const v = values[i][j];
      const yb = y0 + j * perBar;
      parts.push(`${ser.name}: ${v === null || v === undefined ? "—" : fmtNumber(v)}`);
      let end = labelW;
      if (isNumber(v)) {
        const w = v > 0 ? Math.max(1.5, (v / max) * plotW) : 0;
        g.append(s("rect", { x: labelW, y: yb, width: w, height: perBar - 2, class: `bar ${ser.cls}` }));
        end = labelW + w;
      } else if (isHidden(v)) {
        anyHidden = true;
        g.append(s("rect", { x: labelW, y: yb, width: 14, height: perBar - 2, fill, class: "cell-hidden" }));
        end = labelW + 14;
      }
      if (v !== null && v !== undefined) {
        g.append(s("text", { x: end + 4, y: yb + perBar / 2 + 2, class: isHidden(v) ? "value mark" : "value" }, fmtNumber(v)));
      }
    });
    g.append(s("title", {}, `${item.label} — ${parts.join("; ")}`));
    svg.append(g);
  });
  return figure("bar", svg, series, anyHidden ? t("ch.hidden") : null, empty);
}
