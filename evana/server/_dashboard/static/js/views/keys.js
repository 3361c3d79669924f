// API keys (admin): create one with a scope (its text is shown once), list, revoke.
import { api } from "../api.js";
import { h, loading, empty, errorLine, timeText, confirmDialog } from "../ui.js";

const SCOPES = ["ingest", "read", "admin"];

export default {
  id: "keys",
  title: "API keys",
  admin: true,
  render(root, params, ctx) {
    const created = h("div", { id: "new-key", "aria-live": "polite" });
    const list = h("section", { class: "card", id: "keys-list" }, loading());
    const form = h("form", {
      class: "toolbar card",
      onsubmit: async (event) => {
        event.preventDefault();
        const f = event.target;
        try {
          const key = await api("/v1/keys", { method: "POST", body: { scope: f.scope.value, name: f.name.value.trim() || undefined } });
          f.reset();
          // Shown once: the server keeps only its hash.
          created.replaceChildren(h("div", { class: "card" },
            h("h2", {}, `New ${key.scope} key “${key.name || key.key_id}”`),
            h("p", {}, "Copy it now: it is shown only this once."),
            h("div", { class: "secret" }, h("code", { id: "new-key-text" }, key.key),
              h("button", { type: "button", class: "ghost", onclick: (e) => navigator.clipboard?.writeText(key.key).then(() => { e.target.textContent = "Copied"; }, () => null) }, "Copy"))));
          load();
        } catch (e) { created.replaceChildren(errorLine(e)); }
      },
    },
    h("label", {}, "Scope", h("select", { name: "scope" }, SCOPES.map((s) => h("option", { value: s, defaultSelected: s === "read" }, s)))),
    h("label", {}, "Name", h("input", { name: "name", maxlength: 200, placeholder: "what it is for" })),
    h("button", { type: "submit" }, "Create key"));
    root.append(h("h1", {}, "API keys"), form, created, list);

    function load() {
      api("/v1/keys").then((r) => {
        if (!r.keys.length) { list.replaceChildren(empty("No keys.")); return; }
        list.replaceChildren(h("div", { class: "scroll" }, h("table", { id: "keys-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "Name"), h("th", {}, "Scope"), h("th", {}, "Created (UTC)"), h("th", {}, "Revoked"), h("th", {}, ""))),
          h("tbody", {}, r.keys.map((k) => h("tr", { dataset: { keyId: k.key_id } },
            h("td", { class: "mono" }, k.key_id),
            h("td", {}, k.name || ""),
            h("td", {}, k.scope),
            h("td", { class: "mono" }, timeText(k.created_at)),
            h("td", { class: "mono" }, k.revoked_at ? timeText(k.revoked_at) : ""),
            h("td", {}, k.revoked_at || k.key_id === ctx.session.key_id ? "" : h("button", {
              type: "button", class: "ghost revoke",
              onclick: async () => {
                if (!(await confirmDialog(`Revoke key ${k.key_id}?`, "Anything using it is refused from now on. This cannot be undone.", "Revoke"))) return;
                try { await api(`/v1/keys/${encodeURIComponent(k.key_id)}`, { method: "DELETE" }); load(); } catch (e) { list.prepend(errorLine(e)); }
              },
            }, "Revoke"))))))));
      }).catch((e) => list.replaceChildren(errorLine(e)));
    }
    load();
  },
};
