// Small DOM helpers: elements built with properties (never HTML strings), and the three states.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const loading = (what = "Loading…") => h("p", { class: "loading", role: "status" }, what);
export const empty = (text) => h("p", { class: "empty" }, text);
export const errorLine = (error) =>
  h("p", { class: "error", role: "alert" }, error && error.message ? error.message : String(error));

const numberFormat = new Intl.NumberFormat("en-US");
export const fmt = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));
export const pct = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : "–");

export function timeText(iso) {
  // UTC, like every report: "2026-11-02 09:15:00"
  return iso.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "");
}

// A collapsed table of a chart's figures: for screen readers, keyboard users and copy-paste.
export function figuresTable(caption, columns, rows) {
  return h("details", { class: "figures-table" },
    h("summary", {}, `${caption} as a table`),
    h("div", { class: "scroll" },
      h("table", {},
        h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { class: i ? "num" : "" }, c)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, r.map((v, i) => h("td", { class: i ? "num" : "" }, i ? fmt(v) : v))))),
      )));
}

// A form's submit handler that cannot reload the page.
export function onSubmit(handler) {
  return (event) => { event.preventDefault(); handler(new FormData(event.target)); };
}

// Ask before something that cannot be undone; resolves true only when confirmed.
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, title),
      h("p", {}, text),
      h("form", { method: "dialog", class: "actions" },
        h("button", { type: "submit", value: "cancel", class: "ghost", autofocus: true }, "Cancel"),
        h("button", { type: "submit", value: "confirm", class: "danger" }, confirmLabel)));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "confirm"); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// The link to a view with its query (what the address bar shows for it).
export function hrefFor(id, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const query = q.toString();
  return `#/${id}${query ? `?${query}` : ""}`;
}
