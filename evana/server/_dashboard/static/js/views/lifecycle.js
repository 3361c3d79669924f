// Lifecycle: per period, the persons new, returning, resurrecting, and those gone dormant.
import { api } from "../api.js";
import { h, loading, empty, errorLine } from "../ui.js";
import { readRange, rangeControl } from "../range.js";
import { barChart } from "../charts.js";
import { jsonParam, jsonOrNull, filterRows, eventNames, dataTable } from "../insight.js";

const PERIODS = ["day", "week", "month"];
const KINDS = [["new", "New", "--s1"], ["returning", "Returning", "--s2"], ["resurrecting", "Resurrecting", "--s3"], ["dormant", "Dormant", "--s4"]];

export default {
  id: "lifecycle",
  title: "Lifecycle",
  render(root, params, ctx) {
    const range = readRange(params);
    const period = PERIODS.includes(params.get("period")) ? params.get("period") : "day";
    const event = params.get("event") || "";
    const where = jsonParam(params, "where");
    const filters = filterRows(where);
    const result = h("section", { class: "card", id: "lifecycle-result", "aria-live": "polite" }, loading());
    const form = h("form", {
      class: "insight-form",
      onsubmit: (e) => {
        e.preventDefault();
        const f = e.target;
        ctx.set({ period: f.period.value, event: f.event.value.trim(), where: jsonOrNull(filters.read()) });
      },
    },
    h("div", { class: "toolbar" },
      h("label", {}, "Period", h("select", { name: "period" }, PERIODS.map((p) => h("option", { value: p, defaultSelected: p === period }, p)))),
      h("label", {}, "Event", h("input", { name: "event", list: "event-names", value: event, placeholder: "any event" })),
      h("button", { type: "submit" }, "Show")),
    filters.el, eventNames(range));
    root.append(h("h1", {}, "Lifecycle"), rangeControl(range, ctx), form, result);

    let chart = null;
    api("/v1/stats/lifecycle", { query: { since: range.since, until: range.until, period, event, where: jsonOrNull(where) } }).then((r) => {
      result.replaceChildren(h("h2", {}, `${r.periods.length} ${period}s · ${event || "any event"}`));
      if (!r.periods.some((p) => KINDS.some(([k]) => p[k]))) { result.append(empty("Nobody was active in this range.")); return; }
      const labels = r.periods.map((p) => p.date);
      // Dormant persons left: drawn below zero; the table keeps the API's positive counts.
      chart = barChart(labels, KINDS.map(([k, label, color]) => ({ label, color, values: r.periods.map((p) => (k === "dormant" ? -p[k] : p[k])) })), { stacked: true });
      result.append(chart, dataTable("lifecycle-table", `Persons per ${period}; dormant: active the ${period} before, not in this one`,
        [period[0].toUpperCase() + period.slice(1), ...KINDS.map(([, label]) => label)],
        r.periods.map((p) => [p.date, ...KINDS.map(([k]) => p[k])])));
    }).catch((e) => result.replaceChildren(errorLine(e)));
    return () => { if (chart) chart.dispose(); };
  },
};
