// A person's page (admin): look up an id, see its linked ids and properties, read its events
// newest first (paged), erase them.
import { api } from "../api.js";
import { h, loading, empty, errorLine, timeText, confirmDialog, hrefFor } from "../ui.js";

const PAGE = 50;

export default {
  id: "person",
  title: "Persons",
  admin: true, // raw events name users: a read key sees reports only
  render(root, params, ctx) {
    const id = params.get("id") || "";
    const before = params.get("before") || "";
    const form = h("form", {
      class: "toolbar", role: "search",
      onsubmit: (event) => { event.preventDefault(); ctx.set({ id: event.target.id.value.trim(), before: null }); },
    },
    h("label", {}, "User id", h("input", { name: "id", value: id, required: true, placeholder: "u_42", autocomplete: "off" })),
    h("button", { type: "submit" }, "Look up"));
    root.append(h("h1", {}, "Persons"), form);
    if (!id) { root.append(empty("Enter a user id to see their events.")); return; }

    const profile = h("section", { class: "card", id: "person-profile" }, loading());
    const card = h("section", { class: "card", id: "person-events" }, loading());
    root.append(profile, card);
    api(`/v1/persons/${encodeURIComponent(id)}`).then((p) => {
      const keys = Object.keys(p.properties).sort();
      profile.replaceChildren(h("h2", {}, "Person"),
        h("dl", { class: "props" },
          h("dt", {}, "Distinct ids"),
          h("dd", { id: "person-ids" }, p.distinct_ids.map((d, i) => [i ? ", " : "", d === id ? h("code", {}, d) : h("a", { href: hrefFor("person", { id: d }) }, h("code", {}, d))])),
          h("dt", {}, "First seen"), h("dd", {}, p.first_seen ? `${timeText(p.first_seen)} UTC` : "–"),
          h("dt", {}, "Last seen"), h("dd", {}, p.last_seen ? `${timeText(p.last_seen)} UTC` : "–")),
        keys.length
          ? h("div", { class: "scroll" }, h("table", { id: "person-props" },
            h("caption", { class: "muted" }, "Properties"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Property"), h("th", { scope: "col" }, "Value"))),
            h("tbody", {}, keys.map((k) => h("tr", { dataset: { key: k } }, h("th", { scope: "row" }, k), h("td", { class: "mono" }, JSON.stringify(p.properties[k])))))))
          : empty("No person properties."));
    }).catch((e) => profile.replaceChildren(e.status === 404 ? empty("No person has this id (never seen, or erased).") : errorLine(e)));
    api("/v1/events/recent", { query: { user_id: id, limit: PAGE, before } }).then((page) => {
      const heading = h("h2", {}, "Events of ", h("code", {}, id), before ? " (older)" : " (newest first)");
      const nav = h("p", { class: "toolbar" },
        before ? h("a", { href: hrefFor("person", { id }) }, "← Newest") : null,
        page.next ? h("a", { href: hrefFor("person", { id, before: page.next }), id: "older" }, "Older →") : null);
      const parts = [heading];
      if (!page.events.length) parts.push(empty(before ? "No older events." : "No stored events for this id."));
      else {
        parts.push(h("div", { class: "scroll" }, h("table", { id: "person-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Time (UTC)"), h("th", {}, "Event"), h("th", {}, "Properties"))),
          h("tbody", {}, page.events.map((e) => h("tr", { dataset: { eventId: e.event_id } },
            h("td", { class: "mono" }, timeText(e.timestamp)),
            h("td", {}, e.event),
            h("td", { class: "mono" }, e.properties ? JSON.stringify(e.properties) : "")))))));
      }
      parts.push(nav);
      {
        const status = h("p", { role: "status" });
        parts.push(h("div", { class: "toolbar" }, h("button", {
          type: "button", class: "danger", id: "erase",
          onclick: async () => {
            const ok = await confirmDialog(`Erase ${id}?`, "Every stored event of this id is deleted and the id leaves every report. This cannot be undone.", "Erase");
            if (!ok) return;
            try {
              const done = await api(`/v1/users/${encodeURIComponent(id)}`, { method: "DELETE" });
              status.className = "ok";
              status.textContent = `Erased ${done.user_id}: ${done.events_deleted} events deleted.`;
              card.querySelector("#person-table")?.remove();
              profile.replaceChildren(empty(`Erased: ${done.user_id} and every id linked to it.`));
            } catch (e) { status.replaceChildren(errorLine(e)); }
          },
        }, "Erase this person…")), status);
      }
      card.replaceChildren(...parts);
    }).catch((e) => card.replaceChildren(errorLine(e)));
  },
};
