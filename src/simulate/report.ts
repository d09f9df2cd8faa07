/**
 * The HTML report of a campaign simulation: ONE self-contained file (inline CSS, data and JS, no
 * external URL). Per campaign it plots the condition's signals (for a time-based campaign: the
 * first collected ones) over the drive, marks every trigger and shades every collected window.
 *
 * The series are thinned in Node (min/max per pixel column, so spikes survive) and embedded as
 * JSON; a small script draws them as SVG when the page loads, with a hover read-out.
 */
import type { Campaign } from '../campaigns/index.js';
import { campaignSignalNames } from '../campaigns/index.js';
import type { Manifest } from '../manifest/index.js';
import type { SignalTrace, SimulationResult } from './simulate.js';

/** Most series drawn per campaign. */
const MAX_PANELS = 4;
/** Points kept per series (two per pixel column of a 1100 px plot). */
const MAX_POINTS = 2200;

/** The signals the report of each campaign plots (pass them as `traceSignals` to the simulation). */
export function reportSignals(campaigns: readonly Campaign[], manifest: Manifest): Map<string, string[]> {
  const names = manifest.signals.map((s) => s.name);
  const out = new Map<string, string[]>();
  for (const c of campaigns) {
    const refs = campaignSignalNames(c, names);
    const plot = refs.condition.length > 0 ? refs.condition : refs.collected;
    out.set(c.name, plot.slice(0, MAX_PANELS));
  }
  return out;
}

/** Keeps the first, min, max and last point of each of `buckets` time slices. */
export function thinSeries(trace: SignalTrace, t0: number, t1: number, maxPoints = MAX_POINTS): { t: number[]; v: number[] } {
  const n = trace.timesMs.length;
  if (n <= maxPoints) return { t: trace.timesMs.slice(), v: trace.values.slice() };
  const buckets = Math.max(1, Math.floor(maxPoints / 4));
  const span = Math.max(1, t1 - t0);
  const t: number[] = [];
  const v: number[] = [];
  let i = 0;
  for (let b = 0; b < buckets && i < n; b++) {
    const end = b === buckets - 1 ? Infinity : t0 + ((b + 1) * span) / buckets;
    const start = i;
    let lo = i;
    let hi = i;
    while (i < n && trace.timesMs[i] < end) {
      if (trace.values[i] < trace.values[lo]) lo = i;
      if (trace.values[i] > trace.values[hi]) hi = i;
      i++;
    }
    if (i === start) continue;
    const picks = [...new Set([start, lo, hi, i - 1])].sort((a, c) => a - c);
    for (const k of picks) {
      t.push(trace.timesMs[k]);
      v.push(trace.values[k]);
    }
  }
  return { t, v };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function fmtBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export interface ReportOptions {
  campaigns: readonly Campaign[];
  manifest: Manifest;
  /** Shown in the title, e.g. the log file name. */
  logName?: string;
}

/** Renders the report. `result` must come from a simulation traced with `reportSignals`. */
export function renderSimulationReport(result: SimulationResult, opts: ReportOptions): string {
  const plots = reportSignals(opts.campaigns, opts.manifest);
  const t0 = result.log.firstMs;
  const t1 = result.log.lastMs;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const data = {
    start: t0,
    end: t1,
    campaigns: result.campaigns.map((c) => {
      const camp = opts.campaigns.find((x) => x.name === c.name);
      const cb = camp?.collectionScheme.conditionBasedCollectionScheme;
      return {
        name: c.name,
        scheme: cb ? `${cb.triggerMode} ${cb.expression}` : `every ${camp?.collectionScheme.timeBasedCollectionScheme?.periodMs ?? '?'} ms`,
        triggers: c.triggers.map((t) => ({ t: t.timeMs - t0, by: t.triggeredBy })),
        windows: c.batches.map((b) => ({ from: b.fromMs - t0, to: b.toMs - t0, trigger: b.triggerTimeMs - t0, samples: b.samples, bytes: b.bytes })),
        series: (plots.get(c.name) ?? []).map((name) => {
          const tr = result.traces[name];
          const th = tr ? thinSeries(tr, t0, t1) : { t: [], v: [] };
          const type = opts.manifest.signals[opts.manifest.byName.get(name) ?? -1]?.type ?? 'float64';
          return { name, step: type === 'bool' || /int/.test(type), t: th.t.map((x) => r3(x - t0)), v: th.v.map(r3) };
        }),
      };
    }),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const durationS = result.log.durationMs / 1000;
  const rows = result.campaigns
    .map(
      (c, i) =>
        `<tr><td><a href="#c${i}">${esc(c.name)}</a></td><td>${c.triggers.length}</td><td>${c.batches.length}</td>` +
        `<td>${Object.values(c.samples).reduce((a, b) => a + b, 0)}</td><td>${fmtBytes(c.bytes)}</td><td>${fmtBytes(c.bytesPerHour)}</td></tr>`,
    )
    .join('\n');
  const sections = result.campaigns
    .map(
      (c, i) =>
        `<section id="c${i}" class="campaign" data-campaign="${esc(c.name)}"><h2>${esc(c.name)}</h2>` +
        `<p class="scheme"></p><div class="chart"></div><p class="legend"><span class="sw win"></span> collected window ` +
        `<span class="sw trg"></span> trigger</p></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgewise campaign simulation${opts.logName ? ` - ${esc(opts.logName)}` : ''}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:20px 28px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 2px}
.meta{color:#5b6475;margin:0 0 12px}
table{border-collapse:collapse;margin:8px 0 4px}td,th{padding:3px 12px;border-bottom:1px solid #e3e6ec;text-align:right}
td:first-child,th:first-child{text-align:left}th{font-weight:600;color:#5b6475}
.scheme{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#3b4456;margin:0 0 4px;word-break:break-all}
.chart svg{display:block;width:100%;max-width:1160px;height:auto;background:#fbfcfe;border:1px solid #e3e6ec}
.legend{font-size:12px;color:#5b6475;margin:4px 0 0}.sw{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
.sw.win{background:rgba(64,140,255,.22)}.sw.trg{background:#d62828}
svg text{font:11px system-ui,sans-serif;fill:#5b6475}svg .name{fill:#1d2330;font-weight:600}
svg .grid{stroke:#e6e9ef}svg .axis{stroke:#9aa3b2}svg .window{fill:rgba(64,140,255,.22)}
svg .trigger-line{stroke:#d62828;stroke-width:1;stroke-dasharray:3 2}svg .trigger-marker{fill:#d62828}
svg .hover{stroke:#1d2330;stroke-width:.6}svg .readout{fill:#1d2330;font-weight:600}
</style></head>
<body>
<h1>Campaign simulation</h1>
<p class="meta">${esc(opts.logName ?? 'log')}: ${result.log.frames} frames, ${durationS.toFixed(1)} s from ${esc(new Date(t0).toISOString())}.
Upload volumes are encoded batch bytes after each campaign's compression.</p>
<table><thead><tr><th>campaign</th><th>triggers</th><th>batches</th><th>samples</th><th>bytes</th><th>per hour</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${sections}
<script type="application/json" id="simulation-data">${json}</script>
<script>
(function () {
  var NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('simulation-data').textContent);
  var COLORS = ['#1f6feb', '#2a9d4b', '#b05cc4', '#d9822b'];
  var W = 1160, L = 64, R = 16, TOP = 18, PH = 110, GAP = 14, AX = 26;
  var span = Math.max(1, data.end - data.start);
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function x(t) { return L + (t / span) * (W - L - R); }
  function clock(ms) {
    var s = Math.round(ms / 1000), m = Math.floor(s / 60);
    return m + ':' + String(s % 60).padStart(2, '0');
  }
  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2); }
  function tick(v, step) { return v.toFixed(Math.max(0, Math.min(6, -Math.floor(Math.log10(step))))); }
  function timeStep(range, n) {
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
    for (var i = 0; i < steps.length; i++) if (range / (steps[i] * 1000) <= n) return steps[i] * 1000;
    return 86400000 * Math.ceil(range / 86400000 / n);
  }
  function niceStep(range, n) {
    var raw = range / n, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }
  data.campaigns.forEach(function (c, ci) {
    var section = document.getElementById('c' + ci);
    section.querySelector('.scheme').textContent = c.scheme;
    var panels = Math.max(1, c.series.length);
    var H = TOP + panels * PH + (panels - 1) * GAP + AX;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': c.name }, section.querySelector('.chart'));
    var plotBottom = H - AX;
    // Collected windows (behind everything).
    c.windows.forEach(function (w) {
      var r = el('rect', { 'class': 'window', x: x(w.from), y: TOP, width: Math.max(2, x(w.to) - x(w.from)), height: plotBottom - TOP }, svg);
      el('title', {}, r).textContent = 'collected ' + clock(w.from) + '-' + clock(w.to) + ': ' + w.samples + ' samples, ' + w.bytes + ' bytes';
    });
    // Time axis.
    var step = timeStep(span, 10);
    for (var t = 0; t <= span; t += step) {
      el('line', { 'class': 'grid', x1: x(t), x2: x(t), y1: TOP, y2: plotBottom }, svg);
      el('text', { x: x(t), y: plotBottom + 16, 'text-anchor': 'middle' }, svg).textContent = clock(t);
    }
    // One panel per series.
    var readers = [];
    c.series.forEach(function (s, si) {
      var top = TOP + si * (PH + GAP), bottom = top + PH;
      var lo = Infinity, hi = -Infinity;
      for (var i = 0; i < s.v.length; i++) { if (s.v[i] < lo) lo = s.v[i]; if (s.v[i] > hi) hi = s.v[i]; }
      if (!(hi >= lo)) { lo = 0; hi = 1; }
      if (hi === lo) { hi += 1; lo -= 1; }
      var pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
      var y = function (v) { return bottom - ((v - lo) / (hi - lo)) * PH; };
      el('line', { 'class': 'axis', x1: L, x2: W - R, y1: bottom, y2: bottom }, svg);
      el('line', { 'class': 'axis', x1: L, x2: L, y1: top, y2: bottom }, svg);
      var ys = niceStep(hi - lo, 3);
      for (var v = Math.ceil(lo / ys) * ys; v <= hi; v += ys) {
        el('line', { 'class': 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }, svg);
        el('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, svg).textContent = tick(v, ys);
      }
      var d = '';
      for (var k = 0; k < s.t.length; k++) {
        var px = x(s.t[k]).toFixed(1), py = y(s.v[k]).toFixed(1);
        if (k === 0) d += 'M' + px + ' ' + py;
        else if (s.step) d += 'H' + px + 'V' + py;
        else d += 'L' + px + ' ' + py;
      }
      el('path', { 'class': 'series', d: d || 'M0 0', fill: 'none', stroke: COLORS[si % COLORS.length], 'stroke-width': 1.3, 'data-signal': s.name }, svg);
      el('text', { 'class': 'name', x: L + 6, y: top + 12 }, svg).textContent = s.name;
      readers.push({ s: s, top: top, color: COLORS[si % COLORS.length] });
    });
    if (c.series.length === 0) el('text', { x: L + 6, y: TOP + 14 }, svg).textContent = 'no signals to plot';
    // Triggers on top.
    c.triggers.forEach(function (tr, ti) {
      var px = x(tr.t);
      el('line', { 'class': 'trigger-line', x1: px, x2: px, y1: TOP, y2: plotBottom }, svg);
      var m = el('path', { 'class': 'trigger-marker', d: 'M' + (px - 5) + ' ' + (TOP - 9) + 'h10l-5 8z', 'data-campaign': c.name, 'data-index': ti }, svg);
      el('title', {}, m).textContent = 'trigger ' + (ti + 1) + ' at ' + clock(tr.t) + (tr.by.length ? ' (' + tr.by.join(', ') + ')' : '');
    });
    // Hover read-out.
    var hover = el('line', { 'class': 'hover', x1: 0, x2: 0, y1: TOP, y2: plotBottom, visibility: 'hidden' }, svg);
    var label = el('text', { 'class': 'readout', x: 0, y: TOP - 4, visibility: 'hidden' }, svg);
    svg.addEventListener('mousemove', function (ev) {
      var box = svg.getBoundingClientRect();
      var px = ((ev.clientX - box.left) / box.width) * W;
      if (px < L || px > W - R) { hover.setAttribute('visibility', 'hidden'); label.setAttribute('visibility', 'hidden'); return; }
      var t = ((px - L) / (W - L - R)) * span;
      var parts = [clock(t)];
      readers.forEach(function (r) {
        var a = r.s.t, lo = 0, hi = a.length - 1;
        if (hi < 0) return;
        while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (a[mid] <= t) lo = mid; else hi = mid - 1; }
        parts.push(r.s.name.split('.').pop() + ' ' + fmt(r.s.v[lo]));
      });
      hover.setAttribute('x1', px); hover.setAttribute('x2', px); hover.setAttribute('visibility', 'visible');
      label.textContent = parts.join('   ');
      label.setAttribute('x', Math.min(px + 6, W - 360)); label.setAttribute('visibility', 'visible');
    });
    svg.addEventListener('mouseleave', function () { hover.setAttribute('visibility', 'hidden'); label.setAttribute('visibility', 'hidden'); });
  });
  document.body.setAttribute('data-rendered', 'true');
})();
</script>
</body></html>
`;
}
