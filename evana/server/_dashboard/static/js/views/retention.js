// Retention: cohorts by the period of each user's first (start) event, and who came back.
import { api } from "../api.js";
import { h, loading, empty, errorLine } from "../ui.js";
import { readRange, rangeControl } from "../range.js";
import { retentionTable } from "../charts.js";

const PERIODS = ["day", "week", "month"];

export default {
  id: "retention",
  title: "Retention",
  render(root, params, ctx) {
    const range = readRange(params, "90d");
    const period = PERIODS.includes(params.get("period")) ? params.get("period") : "week";
    const periods = Math.min(52, Math.max(1, parseInt(params.get("periods"), 10) || 8));
    const startEvent = params.get("start_event") || "";
    const returnEvent = params.get("return_event") || "";
    const result = h("section", { class: "card", id: "retention-result", "aria-live": "polite" }, loading());
    const names = h("datalist", { id: "event-names" });
    const form = h("form", {
      class: "toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        const f = event.target;
        ctx.set({ period: f.period.value, periods: f.periods.value, start_event: f.start_event.value.trim(), return_event: f.return_event.value.trim() });
      },
    },
    h("label", {}, "Period", h("select", { name: "period" }, PERIODS.map((p) => h("option", { value: p, defaultSelected: p === period }, p)))),
    h("label", {}, "Periods", h("input", { type: "number", name: "periods", min: 1, max: 52, value: periods })),
    h("label", {}, "Start event", h("input", { name: "start_event", list: "event-names", value: startEvent, placeholder: "any event" })),
    h("label", {}, "Return event", h("input", { name: "return_event", list: "event-names", value: returnEvent, placeholder: "any event" })),
    h("button", { type: "submit" }, "Show"), names);
    root.append(h("h1", {}, "Retention"), rangeControl(range, ctx), form, result);

    api("/v1/stats/top-events", { query: { since: range.since, until: range.until, limit: 50 } })
      .then((r) => names.replaceChildren(...r.events.map((e) => h("option", { value: e.event }))))
      .catch(() => null); // suggestions only

    api("/v1/stats/retention", {
      query: { since: range.since, until: range.until, period, periods, start_event: startEvent, return_event: returnEvent },
    }).then((r) => {
      const what = `${startEvent || "any event"} → ${returnEvent || "any event"}`;
      result.replaceChildren(h("h2", {}, `${r.cohorts.length} ${period} cohorts · ${what}`));
      if (!r.cohorts.some((c) => c.size)) { result.append(empty("No cohort has users in this range.")); return; }
      result.append(retentionTable(r), h("p", { class: "muted" }, "Each cell: the share of the cohort active that period; hover or focus it for the count."));
    }).catch((e) => result.replaceChildren(errorLine(e)));
  },
};
