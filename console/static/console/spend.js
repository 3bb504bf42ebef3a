// The spend page's chart: spend per hour or day of the costliest keys, end users or
// sessions, drawn with uPlot (static/vendor/uplot) from the JSON block the page carries
// (#spend-data). Without JavaScript the page's tables have the same figures.
(function () {
  const PALETTE = ["#6366f1", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#84cc16", "#f97316", "#64748b"];

  function money(value) {
    if (value == null) return "—";
    if (value === 0) return "$0.00";
    if (Math.abs(value) >= 0.01) return "$" + value.toFixed(2);
    return "$" + value.toPrecision(2);
  }

  function draw(host, data) {
    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue("--muted").trim() || "#667085";
    const line = style.getPropertyValue("--line").trim() || "#e4e7ec";
    const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const series = [{}].concat(data.series.map((s, i) => ({
      label: s.name,
      stroke: PALETTE[i % PALETTE.length],
      fill: PALETTE[i % PALETTE.length] + "22",
      width: 2,
      points: { size: 4 },
      value: (u, v) => money(v),
    })));
    const options = {
      width: Math.max(host.clientWidth, 200),
      height: 280,
      series: series,
      scales: { x: { time: true } },
      axes: [
        Object.assign({}, axis),
        Object.assign({}, axis, { size: 64, values: (u, ticks) => ticks.map(money) }),
      ],
      legend: { live: true },
    };
    const chart = new uPlot(options, [data.x].concat(data.series.map((s) => s.values)), host);
    new ResizeObserver(() => chart.setSize({ width: Math.max(host.clientWidth, 200), height: 280 })).observe(host);
    return chart;
  }

  function start() {
    const host = document.getElementById("spend-chart");
    const source = document.getElementById("spend-data");
    if (!host || !source || typeof uPlot === "undefined") return;
    host.replaceChildren();
    host.dataset.drawn = "1";
    window.spendChart = draw(host, JSON.parse(source.textContent));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
