// The date range of a view: presets (7d, 30d, 90d, 12 months) or custom days, kept in the URL.
import { h } from "./ui.js";

export const PRESETS = [["7d", "7 days", 7], ["30d", "30 days", 30], ["90d", "90 days", 90], ["12m", "12 months", 365]];

export const isoDay = (date) => date.toISOString().slice(0, 10);
export const addDays = (day, n) => isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000));
export const today = () => isoDay(new Date());

// {since, until, preset} from the URL's params (days are UTC days, as in every report).
export function readRange(params, fallback = "30d") {
  const since = params.get("since");
  const until = params.get("until");
  if (since && until && /^\d{4}-\d{2}-\d{2}$/.test(since) && /^\d{4}-\d{2}-\d{2}$/.test(until)) {
    return { since, until, preset: "custom" };
  }
  const preset = PRESETS.find((p) => p[0] === params.get("range")) || PRESETS.find((p) => p[0] === fallback);
  const end = today();
  return { since: addDays(end, 1 - preset[2]), until: end, preset: preset[0] };
}

export function rangeControl(range, ctx) {
  const custom = range.preset === "custom";
  return h("div", { class: "toolbar", role: "group", "aria-label": "Date range" },
    h("div", { class: "presets" },
      PRESETS.map(([id, label]) => h("button", {
        type: "button",
        "aria-pressed": String(range.preset === id),
        onclick: () => ctx.set({ range: id, since: null, until: null }),
      }, label))),
    h("form", {
      class: "toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        const form = event.target;
        ctx.set({ range: null, since: form.since.value, until: form.until.value });
      },
    },
    h("label", {}, "From", h("input", { type: "date", name: "since", value: range.since, required: true })),
    h("label", {}, "To", h("input", { type: "date", name: "until", value: range.until, required: true })),
    h("button", { type: "submit", class: custom ? "" : "ghost" }, "Apply")));
}
