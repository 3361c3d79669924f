// What the insight views share: filter rows, event-name suggestions, the query's JSON params
// in the URL, and a visible table of a chart's figures.
import { api } from "./api.js";
import { h, fmt } from "./ui.js";

export const OPS = [
  ["eq", "="], ["neq", "≠"], ["in", "in"], ["not_in", "not in"], ["gt", ">"], ["gte", "≥"], ["lt", "<"],
  ["lte", "≤"], ["contains", "contains"], ["is_set", "is set"], ["is_not_set", "is not set"],
];
const NO_VALUE = new Set(["is_set", "is_not_set"]);
const NUMERIC = new Set(["gt", "gte", "lt", "lte"]);

// A JSON param of the URL (a list of filters, of events, of steps); the fallback when absent
// or unreadable, so a hand-edited address never breaks the view.
export function jsonParam(params, name, fallback = []) {
  const raw = params.get(name);
  if (!raw) return fallback;
  try {
    const value = JSON.parse(raw);
    return Array.isArray(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

export const jsonOrNull = (list) => (list && list.length ? JSON.stringify(list) : null);

// A typed value: numbers and booleans as themselves, "quoted" text as the text inside.
function scalar(text) {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (t === "true") return true;
  if (t === "false") return false;
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1);
  return t;
}

// The filter's value from the text field, as the API expects it for the op. A text where a
// number is due is sent as it is: the API's answer says what is wrong.
export function parseValue(op, text) {
  if (NO_VALUE.has(op)) return undefined;
  if (op === "in" || op === "not_in") return text.split(",").map((s) => s.trim()).filter(Boolean).map(scalar);
  if (NUMERIC.has(op)) return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  if (op === "contains") return text;
  return scalar(text);
}

function valueText(value) {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map(valueText).join(", ");
  if (typeof value === "string" && scalar(value) !== value) return `"${value}"`;
  return String(value);
}

// Rows of key, op and value; read() gives the API's list of filters. Without a label, el is
// the rows alone and the caller places the "+ Filter" button.
export function filterRows(filters, label = "Filters") {
  const rows = h("div", { class: "filter-rows" });
  const add = (f = { key: "", op: "eq" }) => {
    const value = h("input", { name: "value", value: valueText(f.value), placeholder: "value", "aria-label": "Value", disabled: NO_VALUE.has(f.op) });
    const op = h("select", { name: "op", "aria-label": "Operator", onchange: () => { value.disabled = NO_VALUE.has(op.value); } },
      OPS.map(([id, text]) => h("option", { value: id, defaultSelected: id === f.op }, text)));
    const row = h("div", { class: "filter-row" },
      h("input", { name: "key", value: f.key, placeholder: "property (or person.name)", "aria-label": "Property", required: true }),
      op, value,
      h("button", { type: "button", class: "ghost", "aria-label": "Remove this filter", onclick: () => row.remove() }, "×"));
    rows.append(row);
  };
  filters.forEach(add);
  const button = h("button", { type: "button", class: "ghost add-filter", onclick: () => add() }, "+ Filter");
  // Compact (a funnel step's filters): the rows alone; the caller places the button.
  const el = label ? h("fieldset", { class: "filters" }, h("legend", {}, label), rows, button) : rows;
  const read = () => [...rows.querySelectorAll(".filter-row")].map((row) => {
    const op = row.querySelector("select").value;
    const f = { key: row.querySelector('[name="key"]').value.trim(), op };
    const value = parseValue(op, row.querySelector('[name="value"]').value);
    if (value !== undefined) f.value = value;
    return f;
  });
  return { el, read, button };
}

// Suggestions for event fields: the range's 50 most frequent events.
export function eventNames(range) {
  const list = h("datalist", { id: "event-names" });
  api("/v1/stats/top-events", { query: { since: range.since, until: range.until, limit: 50 } })
    .then((r) => list.replaceChildren(...r.events.map((e) => h("option", { value: e.event }))))
    .catch(() => null); // suggestions only
  return list;
}

// A chart's figures as a visible table; each number cell keeps the API's value in data-value.
export function dataTable(id, caption, columns, rows, foot = null) {
  const cell = (v, i) => (i
    ? h("td", { class: "num", dataset: { value: v === null || v === undefined ? "" : String(v) } }, typeof v === "number" ? fmt(v) : v ?? "–")
    : h("th", { scope: "row" }, v));
  return h("div", { class: "scroll" }, h("table", { id, class: "data" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { class: i ? "num" : "", scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((v, i) => cell(v, i))))),
    foot ? h("tfoot", {}, h("tr", {}, foot.map((v, i) => cell(v, i)))) : null));
}

// "3 min 20 s", "2 h 5 min", "1 d 4 h": a median time between funnel steps.
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ""}`;
}
