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
