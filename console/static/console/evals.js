// The evaluation pages: the results page's two charts (uPlot, vendored) drawn from the
// JSON block the page carries (#evals-chart-data), and the blind review's keyboard
// shortcuts (A, B, T, S). No inline script: the CSP allows only 'self'.
(function () {
  const PALETTE = ["#6366f1", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7"];

  function axes() {
    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue("--muted").trim() || "#667085";
    const line = style.getPropertyValue("--line").trim() || "#e4e7ec";
    return { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
  }

  function money(v) {
    if (v == null) return "—";
    return "$" + (Math.abs(v) >= 0.01 ? v.toFixed(2) : v.toPrecision(2));
  }

  function keepSized(chart, host, height) {
    new ResizeObserver(() => chart.setSize({ width: Math.max(host.clientWidth, 240), height: height })).observe(host);
  }

  // One point per route: x = cost per row, y = mean headline score. uPlot wants one
  // shared x array, so each route is a series that is null except at its own x.
  function scatter(host, data) {
    const xs = data.cost_per_row.map((x, i) => ({ x: x, i: i })).sort((a, b) => a.x - b.x);
    const x = xs.map((p) => p.x);
    const series = [{ label: "cost per row", value: (u, v) => money(v) }];
    const values = [x];
    data.labels.forEach((label, i) => {
      series.push({ label: label, stroke: PALETTE[i % PALETTE.length], fill: PALETTE[i % PALETTE.length],
        paths: () => null, points: { show: true, size: 12 }, value: (u, v) => (v == null ? "—" : v.toFixed(3)) });
      values.push(xs.map((p) => (p.i === i ? data.mean_score[i] : null)));
    });
    const a = axes();
    const chart = new uPlot({
      width: Math.max(host.clientWidth, 240), height: 240, series: series,
      scales: { x: { time: false, range: (u, min, max) => [0, (max || 1e-6) * 1.2] }, y: { range: [0, 1] } },
      axes: [Object.assign({}, a, { values: (u, t) => t.map(money), size: 40 }), Object.assign({}, a)],
      legend: { live: false },
    }, values, host);
    keepSized(chart, host, 240);
    return chart;
  }

  function latency(host, data) {
    const buckets = data.buckets.map(String).concat(["more"]);
    const x = buckets.map((b, i) => i);
    const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8 / Math.max(data.labels.length, 1), 40] }) : null;
    const series = [{ label: "≤ ms", value: (u, v) => (v == null ? "" : buckets[v]) }];
    data.labels.forEach((label, i) => {
      series.push({ label: label, stroke: PALETTE[i % PALETTE.length], fill: PALETTE[i % PALETTE.length] + "88",
        paths: bars || undefined, points: { show: false } });
    });
    const a = axes();
    const chart = new uPlot({
      width: Math.max(host.clientWidth, 240), height: 240, series: series,
      scales: { x: { time: false, range: [-0.5, buckets.length - 0.5] } },
      axes: [Object.assign({}, a, { splits: () => x, values: (u, t) => t.map((v) => buckets[v] || "") }), Object.assign({}, a)],
    }, [x].concat(data.histograms), host);
    keepSized(chart, host, 240);
    return chart;
  }

  function charts() {
    const source = document.getElementById("evals-chart-data");
    if (!source || typeof uPlot === "undefined") return;
    const data = JSON.parse(source.textContent);
    if (!data.labels.length) return;
    const s = document.getElementById("scatter-chart");
    const l = document.getElementById("latency-chart");
    if (s && !s.dataset.drawn) { s.dataset.drawn = "1"; window.evalsScatter = scatter(s, data); }
    if (l && !l.dataset.drawn) { l.dataset.drawn = "1"; window.evalsLatency = latency(l, data); }
  }

  function shortcuts() {
    const form = document.querySelector("[data-review]");
    if (!form) return;
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.closest && event.target.closest("input, textarea, select")) return;
      const target = form.querySelector('[data-key="' + event.key.toLowerCase() + '"]');
      if (!target) return;
      event.preventDefault();
      target.click();
    });
  }

  function start() { charts(); shortcuts(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
