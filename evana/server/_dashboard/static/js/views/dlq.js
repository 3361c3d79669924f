// Dead-letter queue (admin): batches the worker gave up on; show one, replay it.
import { api } from "../api.js";
import { h, loading, empty, errorLine, fmt, timeText, confirmDialog, hrefFor } from "../ui.js";

const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;

export default {
  id: "dlq",
  title: "Dead letters",
  admin: true,
  render(root, params, ctx) {
    const entry = params.get("entry");
    const list = h("section", { class: "card", id: "dlq-list" }, loading());
    const detail = h("section", { class: "card", id: "dlq-entry", hidden: !entry });
    root.append(h("h1", {}, "Dead letters"), list, detail);

    api("/v1/dlq").then((r) => {
      if (!r.enabled) {
        list.replaceChildren(empty("Embedded mode has no dead-letter queue: each batch is written before it is accepted, and a batch that cannot be written is refused (503) for its sender to retry."));
        detail.hidden = true;
        return;
      }
      if (!r.entries.length) { list.replaceChildren(empty("The dead-letter queue is empty.")); return; }
      list.replaceChildren(h("div", { class: "scroll" }, h("table", { id: "dlq-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Id"), h("th", { class: "num" }, "Events"), h("th", { class: "num" }, "Attempts"), h("th", {}, "Failed at (UTC)"), h("th", {}, "Error"))),
        h("tbody", {}, r.entries.map((e) => h("tr", { dataset: { id: e.id } },
          h("td", {}, h("a", { href: hrefFor("dlq", { entry: e.id }) }, String(e.id))),
          h("td", { class: "num" }, fmt(e.events)),
          h("td", { class: "num" }, fmt(e.attempts)),
          h("td", { class: "mono" }, timeText(e.failed_at)),
          h("td", {}, e.error)))))));
    }).catch((e) => list.replaceChildren(errorLine(e)));

    if (!entry) return;
    detail.append(loading());
    api(`/v1/dlq/${encodeURIComponent(entry)}`).then((e) => {
      const status = h("p", { role: "status" });
      detail.replaceChildren(
        h("h2", {}, `Dead letter ${e.id}`),
        h("p", {}, `${plural(e.events, "event")}, ${plural(e.attempts, "attempt")}, first failed ${timeText(e.first_failed_at)}, last ${timeText(e.failed_at)} UTC.`),
        h("p", { class: "error" }, e.error),
        h("div", { class: "toolbar" },
          h("button", {
            type: "button", id: "replay",
            onclick: async () => {
              if (!(await confirmDialog(`Replay dead letter ${e.id}?`, "Its events are sent to be written again (events already stored are not counted twice), and the entry is deleted.", "Replay"))) return;
              try {
                await api(`/v1/dlq/${e.id}/replay`, { method: "POST" });
                ctx.set({ entry: null }, { replace: true });
              } catch (err) { status.replaceChildren(errorLine(err)); }
            },
          }, "Replay"),
          h("a", { href: hrefFor("dlq") }, "Close")),
        status,
        h("pre", {}, JSON.stringify(e.data, null, 2)));
    }).catch((err) => detail.replaceChildren(errorLine(err)));
  },
};
