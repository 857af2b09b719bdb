// The admin listener's live page: polls /stats, keeps the last minutes of
// per-shard rates in memory and draws them with uPlot (vendored, MIT).
// Query parameters: ?interval=MS (poll period, default 1000), ?window=S
// (chart history, default 300).
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const INTERVAL = Math.max(100, Number(params.get("interval")) || 1000);
  const WINDOW = Math.max(10, Number(params.get("window")) || 300);
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
  const $ = (id) => document.getElementById(id);
  $("window").textContent = String(Math.round(WINDOW / 60));

  let prev = null; // the previous /stats document and when it was read
  let charts = null; // built once the shard count is known
  const history = { t: [], rps: [], p50: [], p99: [], cpu: [], heap: [], gc: [] };

  const fmtMs = (us) => (us == null ? "–" : (us / 1000).toFixed(us < 10000 ? 2 : 0) + " ms");
  const fmtMiB = (b) => (b / 1048576).toFixed(1) + " MiB";
  const fmtDur = (s) => {
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s";
  };

  // A quantile over the requests between two cumulative bucket lists, as
  // Prometheus' histogram_quantile does: linear within the bucket.
  function intervalQuantile(before, after, q) {
    if (!before || !after) return null;
    const n = after.length;
    const total = after[n - 1].count - before[n - 1].count;
    if (total <= 0) return null;
    const rank = q * total;
    let lower = 0, below = 0;
    for (let i = 0; i < n; i++) {
      const c = after[i].count - before[i].count;
      const le = after[i].le_us;
      if (c >= rank) {
        if (le == null) return lower; // past the last bound
        const inBucket = c - below;
        return inBucket > 0 ? lower + ((le - lower) * (rank - below)) / inBucket : le;
      }
      below = c;
      if (le != null) lower = le;
    }
    return lower;
  }

  function makeChart(el, title, shards, perShard, unitLabel) {
    const series = [{}];
    for (let s = 0; s < shards; s++) {
      for (const [i, name] of perShard.entries()) {
        series.push({
          label: `shard ${s}${name ? " " + name : ""}`,
          stroke: COLORS[s % COLORS.length],
          width: 1.5,
          dash: i > 0 ? [6, 4] : undefined,
          spanGaps: true,
        });
      }
    }
    const width = Math.max(320, el.parentElement.clientWidth - 8);
    return new uPlot(
      {
        width,
        height: 200,
        series,
        scales: { x: { time: true } },
        axes: [{}, { label: unitLabel, size: 60 }],
        legend: { show: true },
      },
      [[], ...series.slice(1).map(() => [])],
      el,
    );
  }

  function buildCharts(shards) {
    return {
      rps: makeChart($("chart-rps"), "requests/s", shards, [""], "req/s"),
      latency: makeChart($("chart-latency"), "latency", shards, ["p50", "p99"], "ms"),
      cpu: makeChart($("chart-cpu"), "CPU/request", shards, [""], "µs"),
      heap: makeChart($("chart-heap"), "heap", shards, [""], "MiB"),
      gc: makeChart($("chart-gc"), "GC", shards, [""], "ms/s"),
    };
  }

  function push(arr, v) {
    arr.push(v);
  }

  function record(now, doc) {
    const shards = doc.shards;
    const dt = prev ? (now - prev.at) / 1000 : 0;
    const before = prev ? prev.doc.shards : null;
    history.t.push(now / 1000);
    shards.forEach((s, i) => {
      const b = before && before[i] && before[i].shard === s.shard ? before[i] : null;
      for (const k of ["rps", "p50", "p99", "cpu", "heap", "gc"]) history[k][i] = history[k][i] || [];
      const dReq = b ? s.requests - b.requests : 0;
      push(history.rps[i], b && dt > 0 ? dReq / dt : null);
      const p50 = b ? intervalQuantile(b.latency_us.buckets, s.latency_us.buckets, 0.5) : null;
      const p99 = b ? intervalQuantile(b.latency_us.buckets, s.latency_us.buckets, 0.99) : null;
      push(history.p50[i], p50 == null ? null : p50 / 1000);
      push(history.p99[i], p99 == null ? null : p99 / 1000);
      push(history.cpu[i], b && dReq > 0 ? ((s.cpu_ms - b.cpu_ms) * 1000) / dReq : null);
      push(history.heap[i], s.v8.heap_used_bytes / 1048576);
      push(history.gc[i], b && dt > 0 ? (s.v8.gc_total_us - b.v8.gc_total_us) / 1000 / dt : null);
    });
    // Keep the window.
    const oldest = now / 1000 - WINDOW;
    while (history.t.length && history.t[0] < oldest) {
      history.t.shift();
      for (const k of ["rps", "p50", "p99", "cpu", "heap", "gc"]) for (const a of history[k]) a && a.shift();
    }
  }

  function draw(shards) {
    if (!charts) charts = buildCharts(shards);
    const t = history.t;
    const col = (k) => Array.from({ length: shards }, (_, i) => history[k][i] || []);
    charts.rps.setData([t, ...col("rps")]);
    const lat = [];
    for (let i = 0; i < shards; i++) lat.push(history.p50[i] || [], history.p99[i] || []);
    charts.latency.setData([t, ...lat]);
    charts.cpu.setData([t, ...col("cpu")]);
    charts.heap.setData([t, ...col("heap")]);
    charts.gc.setData([t, ...col("gc")]);
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function rows(id, list) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    for (const r of list) {
      const tr = document.createElement("tr");
      r.forEach((v) => cell(tr, v));
      body.appendChild(tr);
    }
  }

  function tables(doc) {
    const t = doc.total;
    const last = prev ? prev.doc : null;
    const dt = prev ? (Date.now() - prev.at) / 1000 : 0;
    $("total-requests").textContent = String(t.requests);
    $("total-rps").textContent = last && dt > 0 ? ((t.requests - last.total.requests) / dt).toFixed(1) : "–";
    const q50 = last ? intervalQuantile(last.total.latency_us.buckets, t.latency_us.buckets, 0.5) : null;
    const q99 = last ? intervalQuantile(last.total.latency_us.buckets, t.latency_us.buckets, 0.99) : null;
    $("total-p50").textContent = fmtMs(q50 != null ? q50 : t.latency_us.count ? t.latency_us.p50 : null);
    $("total-p99").textContent = fmtMs(q99 != null ? q99 : t.latency_us.count ? t.latency_us.p99 : null);
    $("total-5xx").textContent = String(t.status["5xx"]);
    $("total-connections").textContent = String(t.open_connections);
    $("total-websockets").textContent = String(t.websockets.open);
    $("total-actors").textContent = String(t.actors.live);
    $("total-heap").textContent = fmtMiB(t.v8.heap_used_bytes);
    $("total-cpu").textContent = t.requests ? ((t.cpu_ms * 1000) / t.requests).toFixed(1) + " µs" : "–";

    rows(
      "shards",
      doc.shards.map((s) => [
        String(s.shard),
        String(s.requests),
        String(s.status["4xx"]),
        String(s.status["5xx"]),
        String(s.outcomes.exception),
        String(s.outcomes.cpu_limit),
        String(s.open_connections),
        String(s.websockets.open),
        String(s.dormant.now),
        String(s.actors.hibernated_sockets),
        `${s.websockets.messages_received} / ${s.websockets.messages_sent}`,
        fmtMiB(s.v8.heap_used_bytes),
        `${s.v8.gc_count} (${(s.v8.gc_total_us / 1000).toFixed(1)} ms)`,
      ]),
    );
    rows(
      "websockets",
      doc.shards.map((s) => [
        String(s.shard),
        String(s.websockets.open),
        String(Math.max(0, s.websockets.open - s.dormant.now)),
        String(s.dormant.now),
        String(s.actors.hibernated_sockets),
        String(s.websockets.accepted),
        String(s.websockets.messages_received),
        String(s.websockets.messages_sent),
      ]),
    );
    const resident = doc.shards.flatMap((s) => s.actor_report.resident.map((r) => [String(s.shard), r.actor, r.why]));
    rows("actors", resident);
    $("actors-note").textContent =
      t.actors.live > resident.length ? `${t.actors.live} resident; the ${resident.length} listed are the first of each shard.` : "";
    rows("evicted", doc.shards.flatMap((s) => s.actor_report.evicted.map((r) => [String(s.shard), r.actor, r.why])));
  }

  async function poll() {
    try {
      const res = await fetch("/stats", { cache: "no-store" });
      const doc = await res.json();
      const now = Date.now();
      const badge = $("readiness");
      badge.textContent = doc.readiness;
      badge.className = "badge " + doc.readiness;
      $("uptime").textContent = fmtDur(doc.uptime_seconds);
      $("shard-count").textContent = String(doc.shards.length);
      $("updated").textContent = new Date(now).toLocaleTimeString();
      record(now, doc);
      draw(doc.shards.length);
      tables(doc);
      prev = { doc, at: now };
      document.body.dataset.polls = String((Number(document.body.dataset.polls) || 0) + 1);
    } catch (e) {
      const badge = $("readiness");
      badge.textContent = "unreachable";
      badge.className = "badge draining";
    }
    setTimeout(poll, INTERVAL);
  }
  poll();
})();
