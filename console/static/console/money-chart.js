// The usage and spend pages' charts: money over time, one line per series, drawn with
// uPlot (static/vendor/uplot). Each `.uplot-host[data-chart]` is drawn from the JSON
// block whose id its data-chart names: {<x>: [unix seconds...], series: [{name, values}]},
// where data-x names the x array ("x" unless given) and an optional range ([from, to], unix
// seconds) fixes a score chart's x axis to the window shown. Optional: data-height (px, 260),
// data-points (point size, 5), data-fill (shade under each line). Without JavaScript the
// pages' tables have the same figures.
(function () {
  const PALETTE = ["#6366f1", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#84cc16", "#f97316", "#64748b"];

  function money(value) {
    if (value == null) return "—";
    if (value === 0) return "$0.00";
    if (Math.abs(value) >= 0.01) return "$" + value.toFixed(2);
    return "$" + value.toPrecision(2);
  }

  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;  // settle: no redraw loop
    const longest = (values || []).reduce((a, b) => (b.length > a.length ? b : a), "");
    u.ctx.font = axis.font[0];
    return Math.ceil(u.ctx.measureText(longest).width / devicePixelRatio) + (axis.gap || 5) + (axis.ticks.size || 10) + 8;
  }

  // data-format="score": plain numbers (the Scores page's means), not money
  function score(value) {
    return value == null ? "—" : value.toFixed(2);
  }

  function draw(host, data) {
    const format = host.dataset.format === "score" ? score : money;
    const xs = data[host.dataset.x || "x"];
    const height = Number(host.dataset.height || 260);
    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue("--muted").trim() || "#667085";
    const line = style.getPropertyValue("--line").trim() || "#e4e7ec";
    const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const series = [{}].concat(data.series.map((s, i) => ({
      label: s.name,
      stroke: PALETTE[i % PALETTE.length],
      fill: "fill" in host.dataset ? PALETTE[i % PALETTE.length] + "22" : undefined,
      width: 2,
      points: { size: Number(host.dataset.points || 5) },
      value: (u, v) => format(v),
    })));
    const options = {
      width: Math.max(host.clientWidth, 200),
      height: height,
      series: series,
      scales: format === score ? {
        // the window asked for (data.range: a lone bucket is a point in it, not the middle
        // of a two-hour axis); scores start at 0 and reach 1
        x: data.range ? { time: true, auto: false, range: data.range }
          : xs.length === 1 ? { time: true, auto: false, range: [xs[0] - 86400, xs[0] + 86400] } : { time: true },
        y: { range: (u, min, max) => [Math.min(0, min), Math.max(1, max)] },
      } : { x: { time: true } },
      axes: [
        Object.assign({}, axis),
        // wide enough for the longest label ("$0.000030" would be cut at a fixed width)
        Object.assign({}, axis, { size: axisSize, values: (u, ticks) => ticks.map(format) }),
      ],
      legend: { live: true },
    };
    const chart = new uPlot(options, [xs].concat(data.series.map((s) => s.values)), host);
    new ResizeObserver(() => chart.setSize({ width: Math.max(host.clientWidth, 200), height: height })).observe(host);
    return chart;
  }

  function start() {
    if (typeof uPlot === "undefined") return;
    for (const host of document.querySelectorAll(".uplot-host[data-chart]")) {
      const source = document.getElementById(host.dataset.chart);
      if (!source) continue;
      host.replaceChildren();
      host.dataset.drawn = "1";
      // kept by the host's id (window.moneyCharts["usage-chart"]) for scripts and tests
      (window.moneyCharts = window.moneyCharts || {})[host.id || host.dataset.chart] =
        draw(host, JSON.parse(source.textContent));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
