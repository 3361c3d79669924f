// Overview: DAU/WAU/MAU, events per day, top events with their trend, a retention heat map.
import { api } from "../api.js";
import { h, loading, empty, errorLine, fmt, figuresTable, hrefFor } from "../ui.js";
import { readRange, rangeControl } from "../range.js";
import { timeChart, sparkline, retentionTable } from "../charts.js";

const TREND_EVENTS = 10;

function panel(title, id) {
  const body = h("div", { class: "panel-body" }, loading());
  return { card: h("section", { class: "card", id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), body), body };
}

function show(body, ...nodes) { body.replaceChildren(...nodes); }

export default {
  id: "overview",
  title: "Overview",
  render(root, params, ctx) {
    const range = readRange(params);
    const q = { since: range.since, until: range.until };
    const figures = h("div", { class: "figures", id: "figures" }, loading());
    const active = panel("Active users", "active");
    const perDay = panel("Events per day", "per-day");
    const top = panel("Top events", "top-events");
    const cohorts = panel("Weekly retention", "retention");
    root.append(
      h("h1", {}, "Overview"),
      rangeControl(range, ctx),
      figures,
      h("div", { class: "grid" }, active.card, perDay.card),
      h("div", { class: "grid" }, top.card, cohorts.card),
    );
    const charts = [];

    Promise.all(["dau", "wau", "mau"].map((k) => api(`/v1/stats/${k}`, { query: q }))).then(([dau, wau, mau]) => {
      const days = dau.series.map((r) => r.date);
      const values = [dau, wau, mau].map((s) => s.series.map((r) => r.users));
      const last = (v) => v[v.length - 1];
      const fig = (label, value, id) => h("div", { class: "figure", id }, h("div", { class: "value" }, fmt(value)), h("div", { class: "label" }, label));
      figures.replaceChildren(
        fig(`DAU on ${range.until}`, last(values[0]), "fig-dau"),
        fig(`WAU on ${range.until}`, last(values[1]), "fig-wau"),
        fig(`MAU on ${range.until}`, last(values[2]), "fig-mau"),
        fig("Peak DAU", Math.max(0, ...values[0]), "fig-peak"),
      );
      if (!values[2].some((v) => v > 0)) { show(active.body, empty("No active users in this range.")); return; }
      const chart = timeChart(days, [
        { label: "DAU", values: values[0], color: "--s1" },
        { label: "WAU", values: values[1], color: "--s2" },
        { label: "MAU", values: values[2], color: "--s3" },
      ]);
      charts.push(chart);
      show(active.body, chart, figuresTable("Active users", ["Day", "DAU", "WAU", "MAU"], days.map((d, i) => [d, values[0][i], values[1][i], values[2][i]])));
    }).catch((e) => { figures.replaceChildren(errorLine(e)); show(active.body, errorLine(e)); });

    api("/v1/stats/events", { query: q }).then((counts) => {
      const [all] = counts.events;
      const days = all.series.map((r) => r.date);
      const values = all.series.map((r) => r.events);
      const total = all.total;
      if (!total) { show(perDay.body, empty("No events in this range.")); return; }
      const chart = timeChart(days, [{ label: "Events", values, color: "--s1" }], { bars: true });
      charts.push(chart);
      show(perDay.body, h("p", { class: "muted" }, h("strong", { id: "events-total" }, fmt(total)), " events in the range"), chart,
        figuresTable("Events per day", ["Day", "Events"], days.map((d, i) => [d, values[i]])));
    }).catch((e) => show(perDay.body, errorLine(e)));

    api("/v1/stats/top-events", { query: { ...q, limit: TREND_EVENTS } }).then((result) => {
      if (!result.events.length) { show(top.body, empty("No events in this range.")); return; }
      // The table shows at once; its trend lines follow, all from one request (one read of
      // the rollups), not one per event.
      const cells = result.events.map(() => h("td", { class: "trend" }, h("span", { class: "muted" }, "…")));
      show(top.body, h("div", { class: "scroll" }, h("table", { id: "top-events-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Event"), h("th", { class: "num" }, "Events"), h("th", { class: "num" }, "Users"), h("th", {}, "Trend"))),
        h("tbody", {}, result.events.map((e, i) => h("tr", { dataset: { event: e.event } },
          h("td", {}, ctx.session.scope === "admin" ? h("a", { href: hrefFor("live", { event: e.event }) }, e.event) : e.event),
          h("td", { class: "num count" }, fmt(e.count)),
          h("td", { class: "num users" }, fmt(e.users)),
          cells[i]))))));
      api("/v1/stats/events", { query: { ...q, event: result.events.map((e) => e.event) } })
        .then((r) => r.events.forEach((s, i) => cells[i].replaceChildren(sparkline(s.series.map((p) => p.events)))))
        .catch(() => cells.forEach((c) => c.replaceChildren("–"))); // the table stands without them
    }).catch((e) => show(top.body, errorLine(e)));

    api("/v1/stats/retention", { query: { until: range.until, period: "week", periods: 8 } }).then((r) => {
      // Weeks before the first user arrived say nothing: start at the first cohort with users.
      const first = r.cohorts.findIndex((c) => c.size);
      if (first < 0) { show(cohorts.body, empty("No new users in these weeks.")); return; }
      show(cohorts.body, retentionTable({ ...r, cohorts: r.cohorts.slice(first) }), h("p", {}, h("a", { href: hrefFor("retention", { until: range.until, period: "week" }) }, "Explore retention →")));
    }).catch((e) => show(cohorts.body, errorLine(e)));

    return () => charts.forEach((c) => c.dispose());
  },
};
