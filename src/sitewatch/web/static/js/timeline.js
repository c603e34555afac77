// Count timelines (uPlot): corrected estimate with its interval, the baseline band, alerts and events.
import uPlot from "/static/vendor/uPlot.esm.js";

const day = (iso) => Date.parse(`${iso.slice(0, 10)}T00:00:00Z`) / 1000;

// Shaded alert periods and dashed event lines, drawn under the series.
function marks(alerts, events) {
  return (u) => {
    const { ctx, bbox } = u;
    const x = (t) => u.valToPos(t, "x", true);
    ctx.save();
    for (const a of alerts) {
      const x0 = x(day(a.start)), x1 = Math.max(x(day(a.end) + 86400), x0 + 3);
      ctx.fillStyle = "rgba(198, 40, 40, 0.15)";
      ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
    }
    ctx.strokeStyle = "rgba(40, 40, 40, 0.8)";
    ctx.setLineDash([4, 4]);
    for (const e of events) {
      const xe = x(day(e.date));
      if (xe < bbox.left || xe > bbox.left + bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(xe, bbox.top);
      ctx.lineTo(xe, bbox.top + bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
}

/** One chart of a count series ({points}) in `el`; returns the uPlot instance. */
export function countChart(el, series, { title, colour, alerts = [], events = [], width = 440, sync = "site" }) {
  const pts = series.points;
  const data = [
    pts.map((p) => day(p.date)),
    pts.map((p) => p.baseline_lo),
    pts.map((p) => p.baseline_hi),
    pts.map((p) => p.baseline),
    pts.map((p) => (p.sufficient ? p.estimate : null)),
    pts.map((p) => (p.sufficient ? null : p.estimate)),
  ];
  const opts = {
    title, width, height: 220,
    cursor: { sync: { key: sync } },
    legend: { show: false }, // the page explains the encoding once, above all charts
    scales: { x: { time: true } },
    series: [
      {},
      { label: "baseline −2sd", stroke: "rgba(80,80,80,0.3)", points: { show: false } },
      { label: "baseline +2sd", stroke: "rgba(80,80,80,0.3)", points: { show: false } },
      { label: "baseline", stroke: "#777", dash: [5, 5], points: { show: false } },
      { label: "estimate", stroke: colour, width: 2, points: { size: 6, fill: colour } },
      { label: "insufficient coverage", stroke: "transparent", points: { size: 6, fill: "#aaa", stroke: "#888" } },
    ],
    bands: [{ series: [2, 1], fill: "rgba(120,120,120,0.15)" }],
    hooks: { drawClear: [marks(alerts, events)] },
  };
  return new uPlot(opts, data, el);
}

/** Several sites' totals on a shared time axis with a synchronised cursor (synchrony at a glance). */
export function totalsChart(el, title, rows, { range, colourOf, width = 440 }) {
  const days = [...new Set(rows.flatMap((r) => r.points.map((p) => day(p.date))))].sort((a, b) => a - b);
  const data = [days, ...rows.map((r) => {
    const byDay = new Map(r.points.map((p) => [day(p.date), p.estimate]));
    return days.map((d) => byDay.get(d) ?? null);
  })];
  const opts = {
    title, width, height: 220,
    cursor: { sync: { key: "multi" } },
    scales: { x: { time: true, range: () => range } },
    series: [{}, ...rows.map((r) => ({ label: r.label, stroke: colourOf(r.cls), width: 2, points: { size: 5 } }))],
  };
  return new uPlot(opts, data, el);
}
