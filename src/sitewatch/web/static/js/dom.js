// Tiny DOM helpers: build elements without innerHTML, so server text is never parsed as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const simBadge = (simulated) => (simulated ? h("span", { class: "badge-sim" }, "SIMULATED") : null);

export const fmtDate = (iso) => iso.slice(0, 10);

// Class colours (colour-blind-safe Tableau 10 order, one per canonical class).
const COLOURS = {
  car: "#4e79a7", truck: "#f28e2b", bus: "#e15759", tanker: "#76b7b2", rail_car: "#59a14f",
  locomotive: "#edc948", crane: "#b07aa1", construction_vehicle: "#ff9da7", other_vehicle: "#9c755f",
};
export const classColour = (cls) => COLOURS[cls] ?? "#555";
