// Charts: uPlot (vendored) for time series, SVG for sparklines, an HTML table for heat maps.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { h, fmt, pct } from "./ui.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const dayTs = (day) => Date.parse(`${day}T00:00:00Z`) / 1000;

// A time-series chart that follows its container's width and the theme's colours.
// series: [{label, values, color: "--s1"}]; bars: draw bars instead of lines.
export function timeChart(days, series, { bars = false, height = 240 } = {}) {
  const box = h("div", { class: "chart" });
  let plot = null;
  const draw = () => {
    if (plot) plot.destroy();
    const width = Math.max(box.clientWidth, 280);
    const text = css("--text");
    const grid = css("--line");
    plot = new uPlot({
      width,
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      legend: { show: series.length > 1 },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.08)] } },
      axes: [
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } },
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, size: 56 },
      ],
      series: [{}, ...series.map((s) => ({
        label: s.label,
        stroke: css(s.color || "--s1"),
        width: 2,
        fill: bars ? css(s.color || "--s1") : undefined,
        paths: bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
        points: { show: days.length < 40 },
        value: (u, v) => (v === null ? "–" : fmt(v)),
      }))],
    }, [days.map(dayTs), ...series.map((s) => s.values)], box);
  };
  // Drawn once the box is in the page (it needs a width), then on resize and theme change.
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    if (box.clientWidth && Math.abs(box.clientWidth - lastWidth) > 2) { lastWidth = box.clientWidth; draw(); }
  });
  observer.observe(box);
  const onTheme = () => { if (box.isConnected) draw(); };
  window.addEventListener("themechange", onTheme);
  box.dispose = () => { observer.disconnect(); window.removeEventListener("themechange", onTheme); if (plot) plot.destroy(); };
  return box;
}

const SVG = "http://www.w3.org/2000/svg";
export function sparkline(values) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 120 28");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 118 / (values.length - 1) : 0;
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", values.map((v, i) => `${(1 + i * step).toFixed(1)},${(27 - (v / max) * 25).toFixed(1)}`).join(" "));
  svg.append(line);
  return svg;
}

// A retention heat map: one row per cohort, its size, and each period's retained share
// (the count on hover and in the cell's title; null cells are periods still to come).
export function retentionTable(retention) {
  const periods = Math.max(0, ...retention.cohorts.map((c) => c.retained.length));
  const unit = { day: "Day", week: "Week", month: "Month" }[retention.period] || "Period";
  const rgb = css("--heat");
  return h("div", { class: "scroll" }, h("table", { class: "heat" },
    h("thead", {}, h("tr", {},
      h("th", {}, "Cohort"), h("th", { class: "num" }, "Users"),
      Array.from({ length: periods }, (_, k) => h("th", { class: "num" }, `${unit} ${k}`)))),
    h("tbody", {}, retention.cohorts.map((c) => h("tr", { dataset: { cohort: c.cohort } },
      h("th", { scope: "row" }, c.cohort),
      h("td", { class: "num size" }, fmt(c.size)),
      c.retained.map((n, k) => {
        if (n === null) return h("td", { class: "cell empty", dataset: { k } }, "");
        const share = c.size ? n / c.size : 0;
        const cell = h("td", {
          class: `cell${share > 0.55 ? " dark-text" : ""}`,
          title: `${fmt(n)} of ${fmt(c.size)} users (${pct(n, c.size)})`,
          tabindex: "0",
          dataset: { k, count: n },
        }, pct(n, c.size));
        cell.style.backgroundColor = `rgba(${rgb}, ${(0.08 + 0.8 * share).toFixed(3)})`;
        return cell;
      }))))));
}

// The series colours, in order (CSS variables --s1 … --s6, themed).
export const PALETTE = ["--s1", "--s2", "--s3", "--s4", "--s5", "--s6"];
export const colorAt = (i) => PALETTE[i % PALETTE.length];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

function niceStep(span) {
  const raw = span / 4;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || mag * 10;
}

// Bars over categories, drawn as SVG: grouped side by side, or stacked (negative values below
// zero). series: [{label, values, color: "--s1"}]. Each bar's <title> names its figure.
export function barChart(labels, series, { stacked = false, height = 240 } = {}) {
  const box = h("div", { class: "chart bars" });
  let lastWidth = 0;
  const draw = () => {
    const width = Math.max(box.clientWidth, 280);
    const pos = labels.map((_, i) => series.reduce((a, s) => a + Math.max(0, s.values[i] || 0), 0));
    const neg = labels.map((_, i) => series.reduce((a, s) => a + Math.min(0, s.values[i] || 0), 0));
    const all = series.flatMap((s) => s.values.filter((v) => v !== null));
    let top = stacked ? Math.max(0, ...pos) : Math.max(0, ...all);
    let bottom = stacked ? Math.min(0, ...neg) : Math.min(0, ...all);
    if (top === bottom) top = 1;
    const step = niceStep(top - bottom);
    top = Math.ceil(top / step) * step;
    bottom = Math.floor(bottom / step) * step;
    const left = 56, right = 8, upper = 8, lower = 28;
    const plotH = height - upper - lower;
    const y = (v) => upper + ((top - v) / (top - bottom)) * plotH;
    const band = (width - left - right) / Math.max(1, labels.length);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": series.map((s) => s.label).join(", ") });
    for (let v = bottom; v <= top + step / 2; v += step) {
      chart.append(svg("line", { class: v === 0 ? "axis" : "gridline", x1: left, x2: width - right, y1: y(v), y2: y(v) }),
        svg("text", { class: "tick", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(Math.round(v * 100) / 100)));
    }
    const every = Math.max(1, Math.ceil(labels.length / Math.floor((width - left) / 70)));
    labels.forEach((label, i) => {
      const x0 = left + i * band;
      if (i % every === 0) chart.append(svg("text", { class: "tick", x: x0 + band / 2, y: height - 8, "text-anchor": "middle" }, label));
      const inner = band * 0.75;
      let up = 0, down = 0;
      series.forEach((s, k) => {
        const v = s.values[i];
        if (v === null || v === undefined || v === 0) return;
        let from, to, x, w;
        if (stacked) {
          [from, to] = v > 0 ? [up, up + v] : [down, down + v];
          if (v > 0) up += v; else down += v;
          x = x0 + (band - inner) / 2; w = inner;
        } else {
          [from, to] = [0, v];
          w = inner / series.length; x = x0 + (band - inner) / 2 + k * w;
        }
        chart.append(svg("rect", {
          class: `bar ${s.color.slice(2)}`, x: x.toFixed(1), width: Math.max(1, w - 1).toFixed(1),
          y: y(Math.max(from, to)).toFixed(1), height: Math.max(1, Math.abs(y(from) - y(to))).toFixed(1),
        }, svg("title", {}, `${s.label} · ${label}: ${fmt(Math.abs(v))}`)));
      });
    });
    box.replaceChildren(chart);
    if (series.length > 1) {
      box.append(h("div", { class: "legend" }, series.map((s) => h("span", {}, h("span", { class: `swatch ${s.color.slice(2)}` }), s.label))));
    }
  };
  const observer = new ResizeObserver(() => {
    if (box.clientWidth && Math.abs(box.clientWidth - lastWidth) > 2) { lastWidth = box.clientWidth; draw(); }
  });
  observer.observe(box);
  box.dispose = () => observer.disconnect();
  return box;
}
