// Funnels: the persons who went through 2 to 10 steps within a window, and how fast.
import { api } from "../api.js";
import { h, loading, errorLine, fmt } from "../ui.js";
import { readRange, rangeControl } from "../range.js";
import { jsonParam, filterRows, eventNames, dataTable, duration } from "../insight.js";

const UNITS = ["minute", "hour", "day"];
const MIN_STEPS = 2;
const MAX_STEPS = 10;
const share = (x) => `${(100 * x).toFixed(1)}%`;

export default {
  id: "funnel",
  title: "Funnels",
  render(root, params, ctx) {
    const range = readRange(params);
    const given = jsonParam(params, "steps").filter((s) => s && typeof s.event === "string");
    const steps = given.length >= MIN_STEPS ? given : [...given, ...Array(MIN_STEPS - given.length).fill(null).map(() => ({ event: "" }))];
    const windowValue = Math.max(1, parseInt(params.get("window"), 10) || 14);
    const unit = UNITS.includes(params.get("unit")) ? params.get("unit") : "day";
    const order = params.get("order") === "any" ? "any" : "ordered";

    const list = h("div", { class: "steps", id: "funnel-steps" });
    const renumber = () => [...list.children].forEach((el, i) => { el.querySelector(".n").textContent = `${i + 1}.`; });
    const addStep = (step = { event: "" }) => {
      if (list.children.length >= MAX_STEPS) return;
      const filters = filterRows(Array.isArray(step.where) ? step.where : [], null);
      const el = h("div", { class: "step" },
        h("div", { class: "step-head" }, h("span", { class: "n" }),
          h("input", { name: "event", list: "event-names", value: step.event, required: true, placeholder: "event name", "aria-label": "Step event" }),
          filters.button,
          h("button", { type: "button", class: "ghost", "aria-label": "Remove this step", onclick: () => { if (list.children.length > MIN_STEPS) { el.remove(); renumber(); } } }, "×")),
        filters.el);
      el.readStep = () => {
        const s = { event: el.querySelector('[name="event"]').value.trim() };
        const where = filters.read();
        if (where.length) s.where = where;
        return s;
      };
      list.append(el);
      renumber();
    };
    steps.forEach(addStep);
    const result = h("section", { class: "card", id: "funnel-result", "aria-live": "polite" }, loading());
    const form = h("form", {
      class: "insight-form",
      onsubmit: (e) => {
        e.preventDefault();
        const f = e.target;
        ctx.set({ steps: JSON.stringify([...list.children].map((el) => el.readStep())), window: f.querySelector("[name=window]").value, unit: f.unit.value, order: f.order.value });
      },
    },
    h("fieldset", {}, h("legend", {}, `Steps (${MIN_STEPS} to ${MAX_STEPS})`), list,
      h("button", { type: "button", class: "ghost add-filter", onclick: () => addStep() }, "+ Step")),
    h("div", { class: "toolbar" },
      h("label", {}, "Window", h("input", { type: "number", name: "window", min: 1, value: windowValue })),
      h("label", {}, "Unit", h("select", { name: "unit" }, UNITS.map((u) => h("option", { value: u, defaultSelected: u === unit }, `${u}s`)))),
      h("label", {}, "Order", h("select", { name: "order" }, [["ordered", "in order"], ["any", "any order"]].map(([v, t]) => h("option", { value: v, defaultSelected: v === order }, t)))),
      h("button", { type: "submit" }, "Show")),
    eventNames(range));
    root.append(h("h1", {}, "Funnels"), rangeControl(range, ctx), form, result);

    if (given.length < MIN_STEPS || given.some((s) => !s.event)) {
      result.replaceChildren(h("p", { class: "empty" }, "Name at least two steps' events, then Show."));
      return;
    }
    const body = { since: range.since, until: range.until, steps: given, window: { value: windowValue, unit }, order };
    api("/v1/query/funnel", { method: "POST", body }).then((r) => {
      const first = r.steps[0].users;
      const bars = h("ol", { class: "funnel", "aria-hidden": "true" }, r.steps.map((s, k) => {
        const fill = h("div", { class: "funnel-fill" });
        fill.style.width = `${(100 * s.conversion).toFixed(2)}%`;
        const note = [`${fmt(s.users)} users`, share(s.conversion)];
        if (k && s.median_seconds !== null) note.push(`median ${duration(s.median_seconds)}`);
        return h("li", { class: "funnel-step" }, h("span", {}, `${k + 1}. ${s.event}`),
          h("div", {}, h("div", { class: "funnel-track" }, fill), h("span", { class: "funnel-note" }, note.join(" · "))));
      }));
      result.replaceChildren(
        h("h2", {}, `${fmt(first)} users entered · ${share(r.steps[r.steps.length - 1].conversion)} converted`),
        bars,
        dataTable("funnel-table", `Users per step within ${windowValue} ${unit}${windowValue > 1 ? "s" : ""}, ${order === "any" ? "in any order" : "in order"}`,
          ["Step", "Users", "Conversion", "From the step before", "Median time from the step before"],
          r.steps.map((s, k) => [`${k + 1}. ${s.event}`, s.users, share(s.conversion),
            k ? (r.steps[k - 1].users ? share(s.users / r.steps[k - 1].users) : "–") : "–",
            k && s.median_seconds !== null ? duration(s.median_seconds) : "–"])));
      // The raw figures, for whoever reads the table's cells (the conversion as the API gives it).
      result.querySelectorAll("#funnel-table tbody tr").forEach((tr, k) => {
        tr.dataset.users = r.steps[k].users;
        tr.dataset.conversion = r.steps[k].conversion;
        tr.dataset.medianSeconds = r.steps[k].median_seconds ?? "";
      });
    }).catch((e) => result.replaceChildren(errorLine(e)));
  },
};
