// The dashboard's shell: who is signed in, the navigation, the theme, and the router.
//
// The whole query of a view lives in the URL's fragment (#/view?param=value), so a view can be
// shared, reloaded and walked back with the browser's buttons. A view is one module listed in
// views/index.js: render(root, params, ctx) draws it and may return a function that stops it.
import { api, setCsrf } from "./api.js";
import { h, errorLine, hrefFor } from "./ui.js";
import { VIEWS } from "./views/index.js";

const main = document.getElementById("main");
let session = null;
let stop = null;

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [id, query = ""] = raw.split("?");
  return { id: id || "overview", params: new URLSearchParams(query) };
}

function navigate(id, params, { replace = false } = {}) {
  const href = hrefFor(id, params);
  if (replace) {
    window.history.replaceState(null, "", href);
    route();
  } else if (window.location.hash === href) {
    route();
  } else {
    window.location.hash = href; // a history entry; hashchange renders it
  }
}

function drawNav(current) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...VIEWS.filter((v) => !v.admin || session.scope === "admin").map((v) =>
    h("a", { href: `#/${v.id}`, "aria-current": v.id === current ? "page" : false }, v.title)));
}

function route() {
  const { id, params } = parseHash();
  const view = VIEWS.find((v) => v.id === id);
  if (stop) { stop(); stop = null; }
  drawNav(view ? view.id : "");
  const root = h("div", { class: "view", dataset: { view: id } });
  main.replaceChildren(root);
  if (!view) {
    root.append(h("h1", {}, "Not found"), errorLine(`there is no view named “${id}”`));
    return;
  }
  document.title = `${view.title} · evana`;
  if (view.admin && session.scope !== "admin") {
    root.append(h("h1", {}, view.title), errorLine(`${view.title} needs an admin key; this session's key has scope “${session.scope}”.`));
    return;
  }
  const ctx = {
    session,
    params,
    // Change the view's query: a new history entry (or replace it, for refinements).
    set(changes, options = {}) {
      const next = Object.fromEntries(params);
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined || v === null || v === "") delete next[k];
        else next[k] = String(v);
      }
      navigate(id, next, options);
    },
    go: navigate,
  };
  try {
    const result = view.render(root, params, ctx);
    if (typeof result === "function") stop = result;
  } catch (error) {
    root.append(errorLine(error));
  }
}

const THEMES = ["system", "light", "dark"];
function applyTheme(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  document.getElementById("theme").textContent = `Theme: ${theme}`;
  window.dispatchEvent(new Event("themechange"));
}

async function signOut() {
  await api("/dashboard/session", { method: "DELETE" }).catch(() => null);
  window.location.assign("/signin");
}

async function boot() {
  try {
    session = await api("/dashboard/session");
  } catch {
    window.location.assign("/signin" + window.location.hash);
    return;
  }
  setCsrf(session.csrf);
  document.getElementById("who").textContent = `${session.name || session.key_id} · ${session.scope}`;
  document.getElementById("signout").addEventListener("click", signOut);
  let theme = window.localStorage.getItem("evana-theme") || "system";
  applyTheme(theme);
  document.getElementById("theme").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    window.localStorage.setItem("evana-theme", theme);
    applyTheme(theme);
  });
  window.addEventListener("hashchange", () => {
    route();
    // Keyboard and screen-reader users continue from the new view, not from a vanished link.
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  });
  if (!window.location.hash) window.history.replaceState(null, "", "#/overview");
  route();
}

boot();
