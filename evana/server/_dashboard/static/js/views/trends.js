// Trends: a math over one or more events per day, week or month, filtered, broken down.
import { api } from "../api.js";
import { h, loading, empty, errorLine } from "../ui.js";
import { readRange, rangeControl } from "../range.js";
import { timeChart, barChart, colorAt } from "../charts.js";
import { jsonParam, jsonOrNull, filterRows, eventNames, dataTable } from "../insight.js";

const MATHS = ["total", "users", "sum", "avg", "min", "max", "median", "p90", "p95", "p99"];
const MATH_LABELS = { total: "Total events", users: "Unique users" };
const INTERVALS = ["day", "week", "month"];
const MAX_SERIES = 10;

const breakdownText = (value) => (value === "$other" ? "Other" : value === null ? "(none)" : value);

function seriesLabel(r, math, property, breakdown) {
  const how = math === "total" ? "" : ` · ${math === "users" ? "users" : `${math}(${property})`}`;
  return `${r.event || "All events"}${how}${breakdown ? ` · ${breakdownText(r.breakdown)}` : ""}`;
}

export default {
  id: "trends",
  title: "Trends",
  render(root, params, ctx) {
    const range = readRange(params);
    const events = jsonParam(params, "events").filter((e) => typeof e === "string");
    const math = MATHS.includes(params.get("math")) ? params.get("math") : "total";
    const property = params.get("property") || "";
    const where = jsonParam(params, "where");
    const breakdown = params.get("breakdown") || "";
    const limit = Math.min(1000, Math.max(1, parseInt(params.get("limit"), 10) || 10));
    const interval = INTERVALS.includes(params.get("interval")) ? params.get("interval") : "day";
    const chartKind = params.get("chart") === "bar" ? "bar" : "line";

    const eventRows = h("div", { class: "steps", id: "trend-events" });
    const addEvent = (name = "") => {
      if (eventRows.children.length >= MAX_SERIES) return;
      const row = h("div", { class: "step-row" },
        h("input", { name: "event", list: "event-names", value: name, placeholder: "all events", "aria-label": "Event" }),
        h("button", { type: "button", class: "ghost", "aria-label": "Remove this event", onclick: () => { if (eventRows.children.length > 1) row.remove(); } }, "×"));
      eventRows.append(row);
    };
    (events.length ? events : [""]).forEach(addEvent);
    const filters = filterRows(where);
    const result = h("section", { class: "card", id: "trends-result", "aria-live": "polite" }, loading());

    const form = h("form", {
      class: "insight-form",
      onsubmit: (e) => {
        e.preventDefault();
        const f = e.target;
        const names = [...eventRows.querySelectorAll("input")].map((i) => i.value.trim()).filter(Boolean);
        ctx.set({
          events: jsonOrNull(names), math: f.math.value, property: f.property.value.trim(), where: jsonOrNull(filters.read()),
          breakdown: f.breakdown.value.trim(), limit: f.limit.value, interval: f.interval.value, chart: f.chart.value,
        });
      },
    },
    h("fieldset", {}, h("legend", {}, "Events (empty: every event)"), eventRows,
      h("button", { type: "button", class: "ghost add-filter", onclick: () => addEvent() }, "+ Event")),
    h("div", { class: "toolbar" },
      h("label", {}, "Math", h("select", { name: "math" }, MATHS.map((m) => h("option", { value: m, defaultSelected: m === math }, MATH_LABELS[m] || m)))),
      h("label", {}, "Property (for sum … p99)", h("input", { name: "property", value: property, placeholder: "amount" })),
      h("label", {}, "Breakdown", h("input", { name: "breakdown", value: breakdown, placeholder: "none (or plan, person.country)" })),
      h("label", {}, "Limit", h("input", { type: "number", name: "limit", min: 1, max: 1000, value: limit })),
      h("label", {}, "Interval", h("select", { name: "interval" }, INTERVALS.map((i) => h("option", { value: i, defaultSelected: i === interval }, i)))),
      h("label", {}, "Chart", h("select", { name: "chart" }, ["line", "bar"].map((c) => h("option", { value: c, defaultSelected: c === chartKind }, c))))),
    filters.el,
    h("div", {}, h("button", { type: "submit" }, "Show")),
    eventNames(range));
    root.append(h("h1", {}, "Trends"), rangeControl(range, ctx), form, result);

    const series = (events.length ? events : [null]).map((event) => {
      const s = { event, math };
      if (!["total", "users"].includes(math)) s.property = property || undefined;
      if (where.length) s.where = where;
      return s;
    });
    const body = { since: range.since, until: range.until, interval, series };
    if (breakdown) { body.breakdown = breakdown; body.breakdown_limit = limit; }
    let chart = null;
    api("/v1/query/trends", { method: "POST", body }).then((r) => {
      const labels = r.results.map((x) => seriesLabel(x, math, property, breakdown));
      result.replaceChildren(h("h2", {}, `${labels.length} series by ${interval}`));
      if (!r.results.length || r.results.every((x) => x.points.every((p) => !p.value))) {
        result.append(empty("No matching events in this range."));
      }
      if (!r.results.length) return;
      const dates = r.results[0].points.map((p) => p.date);
      const lines = r.results.map((x, i) => ({ label: labels[i], values: x.points.map((p) => p.value), color: colorAt(i) }));
      chart = chartKind === "bar" ? barChart(dates, lines) : timeChart(dates, lines);
      result.append(chart, dataTable("trends-table", `${labels.length} series by ${interval}, and the total over the range`,
        [interval[0].toUpperCase() + interval.slice(1), ...labels],
        dates.map((d, k) => [d, ...r.results.map((x) => x.points[k].value)]),
        ["Total", ...r.results.map((x) => x.total)]));
    }).catch((e) => result.replaceChildren(errorLine(e)));
    return () => { if (chart) chart.dispose(); };
  },
};
