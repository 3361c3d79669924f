// Stickiness: how many persons were active on exactly 1, 2, … days of the range.
import { api } from "../api.js";
import { h, loading, empty, errorLine, fmt } from "../ui.js";
import { readRange, rangeControl } from "../range.js";
import { barChart } from "../charts.js";
import { jsonParam, jsonOrNull, filterRows, eventNames, dataTable } from "../insight.js";

export default {
  id: "stickiness",
  title: "Stickiness",
  render(root, params, ctx) {
    const range = readRange(params);
    const event = params.get("event") || "";
    const where = jsonParam(params, "where");
    const filters = filterRows(where);
    const result = h("section", { class: "card", id: "stickiness-result", "aria-live": "polite" }, loading());
    const form = h("form", {
      class: "insight-form",
      onsubmit: (e) => { e.preventDefault(); ctx.set({ event: e.target.event.value.trim(), where: jsonOrNull(filters.read()) }); },
    },
    h("div", { class: "toolbar" },
      h("label", {}, "Event", h("input", { name: "event", list: "event-names", value: event, placeholder: "any event" })),
      h("button", { type: "submit" }, "Show")),
    filters.el, eventNames(range));
    root.append(h("h1", {}, "Stickiness"), rangeControl(range, ctx), form, result);

    let chart = null;
    api("/v1/stats/stickiness", { query: { since: range.since, until: range.until, event, where: jsonOrNull(where) } }).then((r) => {
      const persons = r.days.reduce((a, d) => a + d.users, 0);
      result.replaceChildren(h("h2", {}, `${fmt(persons)} persons by days active · ${event || "any event"}`));
      if (!persons) { result.append(empty("Nobody was active in this range.")); return; }
      const labels = r.days.map((d) => String(d.days_active));
      chart = barChart(labels, [{ label: "Persons", values: r.days.map((d) => d.users), color: "--s1" }]);
      result.append(chart, dataTable("stickiness-table", `Persons active on exactly k of the ${r.days.length} days`,
        ["Days active", "Persons"], r.days.map((d) => [String(d.days_active), d.users]), ["Total", persons]));
    }).catch((e) => result.replaceChildren(errorLine(e)));
    return () => { if (chart) chart.dispose(); };
  },
};
