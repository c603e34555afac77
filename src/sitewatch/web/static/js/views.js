// The dashboard pages: login, site list, site (map, date slider, timelines), alert, multi-site.
import { api, q, session } from "./api.js";
import { classColour, fmtDate, h, simBadge } from "./dom.js";
import { SiteMap } from "./map.js";
import { countChart, totalsChart } from "./timeline.js";

const canWrite = (user) => user && (user.role === "analyst" || user.role === "admin");

export async function loginView(view) {
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card login", id: "login-form" },
    h("h1", {}, "Log in"),
    h("label", { for: "username" }, "User name"),
    h("input", { id: "username", name: "username", autocomplete: "username", required: true }),
    h("label", { for: "password" }, "Password"),
    h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button", { class: "primary", type: "submit" }, "Log in"),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const s = await api("/login", { method: "POST", body: { username: form.username.value, password: form.password.value } });
      session.set({ user: s.user, role: s.role });
      location.hash = "#/sites";
    } catch (err) {
      error.textContent = err.message;
    }
  });
  view.replaceChildren(form);
}

export async function sitesView(view) {
  const [sites, alerts] = await Promise.all([api("/sites"), api("/alerts")]);
  const open = new Map();
  for (const a of alerts) if (!a.acknowledged) open.set(a.site_id, (open.get(a.site_id) ?? 0) + 1);
  const rows = sites.map((s) => h("tr", {},
    h("td", {}, h("a", { href: `#/site/${encodeURIComponent(s.id)}`, class: "site-link" }, s.name), simBadge(s.simulated)),
    h("td", {}, s.id), h("td", {}, s.country ?? ""), h("td", {}, s.zones.length), h("td", {}, open.get(s.id) ?? 0)));
  view.replaceChildren(
    h("h1", {}, "Sites"),
    sites.length ? h("table", { id: "sites" },
      h("thead", {}, h("tr", {}, ["Site", "Id", "Country", "Zones", "Open alerts"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No sites yet: import some with `sitewatch sites import` or POST /api/v1/sites."));
}

export async function siteView(view, user, siteId) {
  const id = encodeURIComponent(siteId);
  const [site, scenes, series, alerts, events] = await Promise.all([
    api(`/sites/${id}`), api(`/scenes${q({ site_id: siteId })}`), api(`/sites/${id}/counts`),
    api(`/alerts${q({ site_id: siteId })}`), api(`/events${q({ site_id: siteId })}`),
  ]);
  const mapEl = h("div", { id: "map" });
  const label = h("span", { id: "scene-label" });
  const slider = h("input", { type: "range", id: "date-slider", min: 0, max: Math.max(scenes.length - 1, 0), value: Math.max(scenes.length - 1, 0), "aria-label": "scene date" });
  const classes = [...new Set(series.map((s) => s.cls))];
  const timelines = h("div", { class: "timelines", id: "timelines" });
  view.replaceChildren(
    h("h1", {}, site.name, simBadge(site.simulated)),
    h("p", { class: "muted" }, `${site.id} · ${site.country ?? "no country"} · ${scenes.length} scene(s) · `,
      h("a", { href: `/api/v1/sites/${id}/report.html`, target: "_blank" }, "HTML report"), " · ",
      h("a", { href: `/api/v1/sites/${id}/report.pdf`, target: "_blank" }, "PDF"), " · ",
      h("a", { href: `/api/v1/sites/${id}/bundle.json`, target: "_blank" }, "evidence bundle (JSON)")),
    h("div", { class: "site-layout" },
      h("div", {}, mapEl, h("div", { class: "slider" }, slider, label),
        h("div", { class: "legend" }, classes.map((c) => h("span", {}, h("i", { style: `background:${classColour(c)}` }), c)))),
      h("div", {}, h("h2", {}, "Alerts"), alertList(alerts), h("h2", {}, "Events"), eventList(events))),
    h("h2", {}, "Counts per zone and class"),
    h("p", { class: "muted" }, "Corrected estimate (line), baseline ±2 sd (grey band), alerts (red) and events (dashed); grey points had too little coverage to count."),
    timelines);

  const zoneName = new Map(site.zones.map((z) => [z.id, z.name]));
  // A class never seen in a zone is a flat zero line: list it instead of drawing it.
  const seen = series.filter((s) => s.points.some((p) => p.raw > 0 || p.estimate > 0));
  const empty = series.filter((s) => !seen.includes(s)).map((s) => `${zoneName.get(s.zone_id) ?? s.zone_id}/${s.cls}`);
  if (empty.length) timelines.after(h("p", { class: "muted", id: "empty-series" }, `Never detected (not drawn): ${empty.join(", ")}.`));
  for (const s of seen) {
    const el = h("div", { class: "card timeline", "data-points": s.points.length });
    timelines.append(el);
    countChart(el, s, { title: `${zoneName.get(s.zone_id) ?? s.zone_id} — ${s.cls}`, colour: classColour(s.cls), alerts, events });
  }
  if (!series.length) timelines.append(h("p", { class: "muted" }, "No counts yet: run `sitewatch analyze`."));

  if (!scenes.length) {
    label.textContent = "no scene covers this site yet";
    return;
  }
  const map = new SiteMap(mapEl, site);
  const showScene = async () => {
    const s = scenes[Number(slider.value)];
    label.textContent = `${fmtDate(s.acquired)} · ${s.sensor} · ${s.gsd.toFixed(2)} m`;
    const n = await map.show(s);
    label.textContent += ` · ${n} detection(s)${s.simulated ? " · SIMULATED" : ""}`;
  };
  slider.addEventListener("input", showScene);
  await showScene();
}

function alertList(alerts) {
  if (!alerts.length) return h("p", { class: "muted" }, "No alerts.");
  return h("ul", { id: "alerts" }, alerts.map((a) => h("li", {},
    h("a", { href: `#/alert/${encodeURIComponent(a.id)}`, class: "alert-link" }, `${a.start} → ${a.end}`),
    ` ${a.severity} (score ${a.score.toFixed(1)}) — ${a.classes.join(", ")} in ${a.zones.join(", ")}`,
    a.acknowledged ? h("span", { class: "muted" }, " · acknowledged") : null)));
}

function eventList(events) {
  if (!events.length) return h("p", { class: "muted" }, "No events.");
  return h("ul", {}, events.map((e) => h("li", {}, `${e.date} ${e.kind}: ${e.description} `, h("span", { class: "muted" }, `(${e.source})`), simBadge(e.simulated))));
}

export async function alertView(view, user, alertId) {
  const id = encodeURIComponent(alertId);
  const [alert, panels] = await Promise.all([api(`/alerts/${id}`), api(`/alerts/${id}/evidence`)]);
  const notes = h("ul", { class: "notes" }, alert.notes.map(noteItem));
  view.replaceChildren(
    h("h1", {}, `Alert ${alert.id}`, simBadge(alert.simulated)),
    h("p", {}, h("a", { href: `#/site/${encodeURIComponent(alert.site_id)}` }, `← ${alert.site_id}`),
      ` · ${alert.start} → ${alert.end} · ${alert.severity} · score ${alert.score.toFixed(2)} · ${alert.status}`),
    h("div", { class: "card" }, h("h2", {}, "Explanation"), h("p", { id: "explanation" }, alert.explanation)),
    h("div", { class: "card" }, h("h2", {}, "Hypotheses"),
      alert.hypotheses.length ? alert.hypotheses.map((x) => h("div", { class: "hyp", title: x.rationale },
        h("span", {}, x.name), h("div", { class: "bar" }, h("i", { style: `width:${(100 * x.confidence).toFixed(0)}%` })),
        h("span", {}, `${(100 * x.confidence).toFixed(0)}%`))) : h("p", { class: "muted" }, "None given.")),
    h("div", { class: "card" }, h("h2", {}, "Caveats"),
      h("ul", {}, alert.caveats.map((c) => h("li", {}, c))),
      alert.evidence.length ? h("p", { class: "muted" }, `Evidence scenes: ${alert.evidence.join(", ")}`) : null),
    h("div", { class: "card" }, h("h2", {}, "Before / after"), h("div", { class: "chips", id: "chips" }, panels.map(swipe))),
    changeCard(id),
    h("div", { class: "card" }, h("h2", {}, "Notes"), notes, canWrite(user) ? noteForm(alert, notes) : null));
}

// Site-wide change from the last usable scene before the alert to the first one in it (as in the report).
// On request only: a comparison not yet cached on the server takes seconds.
function changeCard(id) {
  const body = h("div", { id: "change" });
  const show = (c) => {
    const title = `before ${fmtDate(c.before.acquired)} (${c.before.scene_id}) → after ${fmtDate(c.after.acquired)} (${c.after.scene_id})`;
    const residual = c.alignment.residual_m === null ? "?" : c.alignment.residual_m.toFixed(2);
    body.replaceChildren(
      h("p", { id: "change-summary" }, simBadge(c.simulated), " ", c.summary),
      h("img", { src: c.figure_url, alt: title, class: "change-figure" }),
      h("p", { class: "muted" }, `${title}; alignment residual ${residual} m`),
      h("ul", {}, c.caveats.map((x) => h("li", { class: "muted" }, x))));
  };
  const run = () => {
    body.replaceChildren(h("p", { class: "muted" }, "Comparing scenes…"));
    api(`/alerts/${id}/change`).then(show,
      (err) => body.replaceChildren(h("p", { class: "muted", id: "change-impossible" }, `No comparison: ${err.message}`)));
  };
  body.append(h("button", { type: "button", id: "change-run", onclick: run }, "Compare the scenes before and during the alert"));
  return h("div", { class: "card" }, h("h2", {}, "Change across the alert start"), body);
}

function noteItem(n) {
  return h("li", {}, `${n.at.slice(0, 16).replace("T", " ")} ${n.user} ${n.kind === "ack" ? "acknowledged" : "commented"}`,
    n.text ? `: ${n.text}` : "");
}

function noteForm(alert, list) {
  const text = h("textarea", { id: "note-text", placeholder: "Comment (optional when acknowledging)" });
  const post = (path) => async () => {
    const note = await api(`/alerts/${encodeURIComponent(alert.id)}/${path}`, { method: "POST", body: { text: text.value } });
    list.append(noteItem(note));
    text.value = "";
  };
  return h("div", {}, text,
    h("button", { class: "primary", type: "button", id: "ack", onclick: post("ack") }, "Acknowledge"), " ",
    h("button", { class: "primary", type: "button", onclick: post("comments") }, "Comment"));
}

// Before/after swipe: the "after" chip on top, clipped by the slider to reveal "before" beneath.
function swipe(panel) {
  const caption = (c) => (c ? `${c.role}: ${fmtDate(c.acquired)} ${c.sensor} ${c.gsd.toFixed(2)} m (${c.scene_id})` : "");
  if (!panel.after) return h("div", {}, h("strong", {}, panel.zone), h("p", { class: "muted" }, "No scene during the alert sees this zone."));
  const after = h("img", { src: panel.after.url, alt: caption(panel.after), class: panel.before ? "top evidence" : "evidence" });
  if (!panel.before) return h("div", {}, h("strong", {}, panel.zone), h("div", { class: "swipe" }, after), h("p", { class: "muted" }, `${caption(panel.after)}; no comparable earlier scene`));
  const before = h("img", { src: panel.before.url, alt: caption(panel.before), class: "evidence" });
  const range = h("input", { type: "range", min: 0, max: 100, value: 50, "aria-label": "before/after" });
  range.addEventListener("input", () => { after.style.clipPath = `inset(0 ${100 - range.value}% 0 0)`; });
  return h("div", {}, h("strong", {}, panel.zone), h("div", { class: "swipe" }, before, after), range,
    h("p", { class: "muted" }, `left: ${caption(panel.after)} · right: ${caption(panel.before)}`));
}

export async function multiView(view) {
  const sites = await api("/sites");
  const all = await Promise.all(sites.map((s) => api(`/sites/${encodeURIComponent(s.id)}/counts${q({ baseline: false })}`)));
  const days = all.flat().flatMap((s) => s.points.map((p) => Date.parse(`${p.date}T00:00:00Z`) / 1000));
  const range = days.length ? [Math.min(...days), Math.max(...days)] : [0, 1];
  const grid = h("div", { class: "multi", id: "multi" });
  view.replaceChildren(h("h1", {}, "All sites"),
    h("p", { class: "muted" }, "Estimated objects per class, summed over the zones seen that day (sufficient coverage only); one time axis and a shared cursor to spot synchrony."),
    grid);
  sites.forEach((site, i) => {
    const byClass = new Map();
    for (const s of all[i]) {
      const perDay = byClass.get(s.cls) ?? new Map();
      for (const p of s.points) if (p.sufficient) perDay.set(p.date, (perDay.get(p.date) ?? 0) + p.estimate);
      byClass.set(s.cls, perDay);
    }
    const rows = [...byClass]
      .filter(([, perDay]) => [...perDay.values()].some((v) => v > 0)) // classes never seen stay off the chart
      .map(([cls, perDay]) => ({ cls, label: cls, points: [...perDay].map(([date, estimate]) => ({ date, estimate })) }));
    const el = h("div", { class: "card" }, h("a", { href: `#/site/${encodeURIComponent(site.id)}` }, site.name), simBadge(site.simulated));
    grid.append(el);
    if (rows.length) totalsChart(el, "", rows, { range, colourOf: classColour });
    else el.append(h("p", { class: "muted" }, "No counts."));
  });
}
