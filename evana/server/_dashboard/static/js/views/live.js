// Live events (admin): the newest stored events, polled every few seconds, filterable by name.
import { api } from "../api.js";
import { h, loading, empty, errorLine, timeText, hrefFor } from "../ui.js";

const EVERY_MS = 3000;
const LIMIT = 50;

export default {
  id: "live",
  title: "Live events",
  admin: true, // raw events name users: a read key sees reports only
  render(root, params, ctx) {
    const event = params.get("event") || "";
    const status = h("p", { class: "muted", role: "status", id: "live-status" }, "");
    const list = h("section", { class: "card", id: "live-events" }, loading());
    let paused = false;
    const pause = h("button", { type: "button", class: "ghost", "aria-pressed": "false", onclick: () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) poll();
    } }, "Pause");
    root.append(h("h1", {}, "Live events"), h("form", {
      class: "toolbar",
      onsubmit: (e) => { e.preventDefault(); ctx.set({ event: e.target.event.value.trim() }); },
    }, h("label", {}, "Event name", h("input", { name: "event", value: event, placeholder: "all events" })),
    h("button", { type: "submit" }, "Filter"), pause), status, list);

    let seen = null;
    let timer = null;
    let stopped = false;
    async function poll() {
      clearTimeout(timer);
      if (stopped || paused) return;
      try {
        const page = await api("/v1/events/recent", { query: { limit: LIMIT, event } });
        if (stopped) return;
        const fresh = seen === null ? new Set() : new Set(page.events.map((e) => e.event_id).filter((id) => !seen.has(id)));
        seen = new Set(page.events.map((e) => e.event_id));
        status.textContent = `${page.events.length} newest${event ? ` “${event}”` : ""} events · updated ${new Date().toISOString().slice(11, 19)} UTC · every ${EVERY_MS / 1000} s`;
        if (!page.events.length) list.replaceChildren(empty(event ? `No “${event}” events stored yet.` : "No events stored yet."));
        else list.replaceChildren(h("div", { class: "scroll" }, h("table", { id: "live-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Time (UTC)"), h("th", {}, "Event"), h("th", {}, "User"), h("th", {}, "Properties"))),
          h("tbody", {}, page.events.map((e) => h("tr", { class: fresh.has(e.event_id) ? "new-row" : "", dataset: { eventId: e.event_id } },
            h("td", { class: "mono" }, timeText(e.timestamp)),
            h("td", {}, h("a", { href: hrefFor("live", { event: e.event }) }, e.event)),
            h("td", {}, h("a", { href: hrefFor("person", { id: e.user_id }) }, e.user_id)),
            h("td", { class: "mono" }, e.properties ? JSON.stringify(e.properties) : "")))))));
      } catch (e) {
        if (stopped) return;
        list.replaceChildren(errorLine(e));
      }
      // Polling pauses while the tab is hidden, and resumes when it is shown again.
      if (!document.hidden) timer = setTimeout(poll, EVERY_MS);
    }
    const onVisible = () => { if (!document.hidden) poll(); };
    document.addEventListener("visibilitychange", onVisible);
    poll();
    return () => { stopped = true; clearTimeout(timer); document.removeEventListener("visibilitychange", onVisible); };
  },
};
