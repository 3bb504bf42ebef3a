// The evaluation pages: the results page's two charts (uPlot, vendored) drawn from the
// JSON block the page carries (#evals-chart-data), and the blind review's keyboard
// shortcuts (A, B, T, S), and a running experiment's progress over the WebSocket. No
// inline script: the CSP allows only 'self'.
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
    if (v === 0) return "$0";
    return "$" + (Math.abs(v) >= 0.01 ? v.toFixed(2) : Number(v.toPrecision(2)).toString());
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
      axes: [Object.assign({}, a, { values: (u, t) => t.map(money), size: 40, space: 90 }),
        Object.assign({}, a, { label: "mean score", labelSize: 20 })],
      legend: { live: false },
    }, values, host);
    keepSized(chart, host, 240);
    return chart;
  }

  // Grouped bars: each bucket holds one slot per route (uPlot shares one x array, so a
  // route's series is null outside its own slots) and a gap.
  function latency(host, data) {
    const buckets = data.buckets.map((b) => (b >= 1000 ? b / 1000 + "s" : String(b))).concat(["more"]);
    const n = data.labels.length;
    const stride = n + 1;
    const x = [];
    for (let b = 0; b < buckets.length; b++) for (let i = 0; i < stride; i++) x.push(b * stride + i);
    const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.9, 24], align: 1 }) : undefined;
    const series = [{ label: "bucket", value: (u, v) => (v == null ? "" : "≤ " + buckets[Math.floor(v / stride)]) }];
    const values = [x];
    data.labels.forEach((label, i) => {
      series.push({ label: label, stroke: PALETTE[i % PALETTE.length], fill: PALETTE[i % PALETTE.length] + "aa",
        paths: bars, points: { show: false } });
      values.push(x.map((v) => (v % stride === i ? data.histograms[i][Math.floor(v / stride)] || 0 : null)));
    });
    const a = axes();
    const centre = (n - 1) / 2;
    const chart = new uPlot({
      width: Math.max(host.clientWidth, 240), height: 240, series: series,
      scales: { x: { time: false, range: [-0.5, buckets.length * stride - 1] } },
      axes: [
        Object.assign({}, a, { label: "ms", labelSize: 16, splits: () => buckets.map((b, i) => i * stride + centre),
          // on a narrow chart every second or third bucket is named, so labels never overlap
          values: (u, t) => {
            const step = u.width < 420 ? 3 : u.width < 640 ? 2 : 1;
            return t.map((v) => {
              const i = Math.round((v - centre) / stride);
              return i % step ? "" : buckets[i] || "";
            });
          } }),
        Object.assign({}, a, { label: "answers", labelSize: 20 }),
      ],
      legend: { live: false },
    }, values, host);
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

  // A running experiment's progress card (#progress[data-experiment]) is pushed over the
  // console's WebSocket (console/evals/live.py). While the socket is open the card's
  // HTMX polling is held back; when the socket cannot open or drops, the polling goes on
  // as before (the fallback). When the experiment has finished the page reloads to show
  // the summary and the charts, as the polling's HX-Refresh does.
  function liveProgress() {
    const card = document.querySelector("#progress[data-experiment]");
    if (!card || typeof WebSocket === "undefined") return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let socket;
    try {
      socket = new WebSocket(scheme + location.host + "/ws/evals/experiments/" + card.dataset.experiment + "/");
    } catch (e) {
      return;
    }
    let live = false;
    let pushes = 0;
    document.body.addEventListener("htmx:beforeRequest", (event) => {
      if (live && event.detail.elt && event.detail.elt.id === "progress") event.preventDefault();
    });
    socket.addEventListener("open", () => { live = true; });
    socket.addEventListener("close", () => {
      live = false;
      const current = document.getElementById("progress");
      if (current) current.removeAttribute("data-socket");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type !== "progress") return;
      const current = document.getElementById("progress");
      if (!current) return;
      const holder = document.createElement("div");
      holder.innerHTML = message.html;
      const fresh = holder.firstElementChild;
      if (!fresh) return;
      pushes += 1;
      fresh.dataset.socket = "live";
      fresh.dataset.pushes = String(pushes);
      current.replaceWith(fresh);
      if (typeof htmx !== "undefined") htmx.process(fresh);
      if (message.finished) {
        live = false;
        location.reload();
      }
    });
  }

  function start() { charts(); shortcuts(); liveProgress(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
