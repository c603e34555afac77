// Dashboard entry: a hash router over the views; every view shows SIMULATED when its data is.
import { api, session } from "./api.js";
import { h } from "./dom.js";
import { alertView, loginView, multiView, siteView, sitesView } from "./views.js";

const view = document.getElementById("view");
const routes = [
  [/^#\/login$/, loginView],
  [/^#\/sites$/, sitesView],
  [/^#\/site\/(.+)$/, siteView],
  [/^#\/alert\/(.+)$/, alertView],
  [/^#\/multi$/, multiView],
];

async function render() {
  const user = session.get();
  const hash = location.hash || "#/sites";
  if (!user && hash !== "#/login") {
    location.hash = "#/login";
    return;
  }
  document.getElementById("nav").hidden = !user;
  document.getElementById("who").textContent = user ? `${user.user} (${user.role})` : "";
  const [re, page] = routes.find(([r]) => r.test(hash)) ?? [/^/, sitesView];
  const args = hash.match(re).slice(1).map(decodeURIComponent);
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    await page(view, user, ...args);
  } catch (err) {
    if (err.status === 401) {
      session.clear();
      location.hash = "#/login";
      return;
    }
    view.replaceChildren(h("p", { class: "error" }, `Error: ${err.message}`));
  }
}

// The banner does not wait for a login: /healthz says whether the store holds simulated data.
async function banner() {
  const health = await api("/healthz");
  document.getElementById("simulated").hidden = !health.simulated;
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("/logout", { method: "POST" }); } finally {
    session.clear();
    location.hash = "#/login";
  }
});
window.addEventListener("hashchange", render);
banner();
render();
