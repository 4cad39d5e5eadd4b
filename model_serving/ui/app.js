// The live page of model-serving. Scores a dropped or pasted CSV through POST compute and draws
// the answer (scores, threshold, anomalous rows, their top features), and shows what the service
// scored lately (GET scores/recent, the drift window) with the drift of its inputs (GET drift),
// refreshed every few seconds. Plain SVG, no library; every URL relative to the page.
'use strict';

const REFRESH_MS = 5000;
const LIVE_SECONDS = 600;
// The drift table shows at most this many rows (a model set has one per group and feature).
const DRIFT_ROWS = 40;
const TABLE_ROWS = 200;
const SERIES_SHOWN = 12;
const KEY_STORE = 'model-serving-api-key';
const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#2458c6', '#138a5e', '#8e44ad', '#b35c00', '#00838f', '#6d4c41', '#c2185b', '#455a64'];

const $ = (id) => document.getElementById(id);
let model = null;
// The input waiting for an API key, scored again once one is given.
let pending = null;

// ---- the service's API ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Calls a route of the service (a path relative to this page) with the API key, if one was
// given; the JSON answer, or an ApiError with the service's own message.
async function call(path, options = {}) {
  const headers = Object.assign({}, options.headers);
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.Authorization = 'Bearer ' + key;
  const response = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}: ${text.slice(0, 200)}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

// ---- numbers and SVG --------------------------------------------------------------------------

function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return Number(x.toPrecision(4)).toString();
}

function quantile(values, q) {
  const sorted = Float64Array.from(values).sort();
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

function node(name, attrs, parent, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// Clears `svg` and sizes it; the plot area inside the margins.
function canvas(svg, height, left = 58) {
  svg.replaceChildren();
  const width = Math.max(svg.clientWidth || svg.parentNode.clientWidth || 800, 300);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('height', height);
  return { svg, left, right: width - 10, top: 8, bottom: height - 22 };
}

// The y scale of a score chart: up to the largest score, but a few huge scores (a value far
// outside the training range scores up to 3.4e38) do not flatten the rest; those are drawn at
// the top edge.
function scoreTop(scores, threshold) {
  const max = scores.reduce((m, s) => Math.max(m, s), 0);
  const typical = Math.max(threshold * 3, quantile(scores, 0.99) * 1.2);
  return Math.max(Math.min(max, typical), threshold * 1.25, 1e-9) * 1.05;
}

function axes(area, yTop, xLabels) {
  const { svg, left, right, top, bottom } = area;
  node('line', { class: 'axis', x1: left, x2: right, y1: bottom, y2: bottom }, svg);
  node('line', { class: 'axis', x1: left, x2: left, y1: top, y2: bottom }, svg);
  for (const f of [0, 0.5, 1]) {
    const y = bottom - f * (bottom - top);
    node('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, svg, fmt(f * yTop));
  }
  // First label from its start, last to its end: none runs off the chart.
  xLabels.forEach(([x, label], k) => {
    const anchor = k === 0 ? 'start' : k === xLabels.length - 1 ? 'end' : 'middle';
    node('text', { x, y: bottom + 15, 'text-anchor': anchor }, svg, label);
  });
}

function thresholdLine(area, y, threshold) {
  const { svg, left, right } = area;
  node('line', { class: 'threshold', x1: left, x2: right, y1: y, y2: y }, svg);
  node('text', { class: 'threshold-label', x: left + 4, y: y - 4 }, svg, `threshold ${fmt(threshold)}`);
}

// A line through `values` at x positions `xOf(i)`; long series are reduced to each pixel
// column's minimum and maximum, so a one-row spike still shows.
function linePath(values, xOf, yOf, columns) {
  const n = values.length;
  const parts = [];
  if (n <= columns * 2) {
    for (let i = 0; i < n; i++) parts.push(`${i ? 'L' : 'M'}${xOf(i).toFixed(1)},${yOf(values[i]).toFixed(1)}`);
    return parts.join('');
  }
  const per = n / columns;
  for (let c = 0; c < columns; c++) {
    const from = Math.floor(c * per);
    const to = Math.min(n, Math.floor((c + 1) * per));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < to; i++) {
      if (Number.isFinite(values[i])) {
        lo = Math.min(lo, values[i]);
        hi = Math.max(hi, values[i]);
      }
    }
    if (lo > hi) continue;
    const x = xOf(from).toFixed(1);
    parts.push(`${parts.length ? 'L' : 'M'}${x},${yOf(lo).toFixed(1)}L${x},${yOf(hi).toFixed(1)}`);
  }
  return parts.join('');
}

// ---- the scored CSV ---------------------------------------------------------------------------

// The CSV as the page plots it: the model's feature columns and a label column (the first one
// that is not a feature, often a time stamp). The service does the real parsing and checking;
// when this simple reading disagrees with it (quoted commas), the series chart is left out.
function readCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const split = (line) => line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
  const header = split(lines[0]);
  const features = model ? model.features : header;
  const columns = features.map((name) => ({ name, index: header.indexOf(name), values: [] })).filter((c) => c.index >= 0);
  const labelIndex = header.findIndex((h) => !features.includes(h));
  const labels = [];
  for (const line of lines.slice(1)) {
    const cells = split(line);
    for (const c of columns) c.values.push(Number.parseFloat(cells[c.index]));
    labels.push(labelIndex >= 0 ? cells[labelIndex] : '');
  }
  return { columns, labels, labelName: labelIndex >= 0 ? header[labelIndex] : null, rows: lines.length - 1 };
}

function drawScores(report) {
  const area = canvas($('score-chart'), 220);
  const { svg, left, right, top, bottom } = area;
  const n = report.scores.length;
  // A model set's groups each have a threshold: the chart's scale takes the highest, no line.
  const threshold = report.threshold ?? Math.max(...(report.groups || []).map((g) => g.threshold));
  const yTop = scoreTop(report.scores, threshold);
  const xOf = (i) => left + (n > 1 ? (i * (right - left)) / (n - 1) : (right - left) / 2);
  const yOf = (s) => bottom - (Math.min(s, yTop) / yTop) * (bottom - top);
  axes(area, yTop, [0, 0.5, 1].map((f) => [left + f * (right - left), `row ${Math.round(f * Math.max(n - 1, 0))}`]));
  node('path', { class: 'score', d: linePath(report.scores, xOf, yOf, Math.round(right - left)) }, svg);
  if (report.threshold !== undefined) thresholdLine(area, yOf(report.threshold), report.threshold);
  for (const i of report.anomalies) {
    const dot = node('circle', { class: 'anomaly', cx: xOf(i).toFixed(1), cy: yOf(report.scores[i]).toFixed(1), r: 3 }, svg);
    node('title', {}, dot, `row ${i}: score ${fmt(report.scores[i])}`);
  }
}

// Consecutive anomalous rows as [first, last] runs, for shading.
function runs(indices) {
  const out = [];
  for (const i of indices) {
    if (out.length && out[out.length - 1][1] === i - 1) out[out.length - 1][1] = i;
    else out.push([i, i]);
  }
  return out;
}

function drawSeries(report, csv) {
  const svg = $('series-chart');
  if (!csv || csv.rows !== report.rows || csv.columns.length === 0) {
    svg.replaceChildren();
    svg.setAttribute('height', 0);
    $('series-hint').textContent = 'The series are not drawn: this page could not read the CSV the way the service did.';
    return;
  }
  // The features the explanations name first, then the model's order.
  const named = new Map();
  for (const row of report.explanations || []) for (const f of row.features) named.set(f.name, (named.get(f.name) || 0) + f.share);
  const columns = [...csv.columns].sort((a, b) => (named.get(b.name) || 0) - (named.get(a.name) || 0)).slice(0, SERIES_SHOWN);
  const strip = 42;
  const area = canvas(svg, columns.length * strip + 24, 96);
  const { left, right } = area;
  const n = report.rows;
  const xOf = (i) => left + (n > 1 ? (i * (right - left)) / (n - 1) : 0);
  const half = n > 1 ? (right - left) / (n - 1) / 2 : 2;
  for (const [a, b] of runs(report.anomalies)) {
    const x = Math.max(left, xOf(a) - half);
    node('rect', { class: 'band', x, y: 0, width: Math.max(xOf(b) + half - x, 1), height: columns.length * strip }, svg);
  }
  columns.forEach((c, k) => {
    const finite = c.values.filter(Number.isFinite);
    const lo = finite.reduce((m, v) => Math.min(m, v), Infinity);
    const hi = finite.reduce((m, v) => Math.max(m, v), -Infinity);
    const y0 = k * strip + 4;
    const yOf = (v) => y0 + (strip - 8) * (hi > lo ? 1 - (v - lo) / (hi - lo) : 0.5);
    node('text', { x: left - 6, y: y0 + strip / 2, 'text-anchor': 'end' }, svg, c.name.length > 14 ? c.name.slice(0, 13) + '…' : c.name);
    node('title', {}, node('path', {
      class: 'series', stroke: COLOURS[k % COLOURS.length], d: linePath(c.values, xOf, yOf, Math.round(right - left)),
    }, svg), `${c.name}: ${fmt(lo)} to ${fmt(hi)}`);
  });
  const more = csv.columns.length > columns.length ? ` The ${columns.length} of ${csv.columns.length} features most named by the explanations are drawn.` : '';
  $('series-hint').textContent = `Each feature scaled to its own range; anomalous rows shaded.${more}`;
}

function drawTable(report, csv) {
  const body = $('anomalies').querySelector('tbody');
  body.replaceChildren();
  const explained = new Map((report.explanations || []).map((r) => [r.row, r.features]));
  const labels = csv && csv.rows === report.rows ? csv.labels : null;
  $('label-column').textContent = (csv && csv.labelName) || 'Label';
  for (const i of report.anomalies.slice(0, TABLE_ROWS)) {
    const tr = document.createElement('tr');
    const features = (explained.get(i) || []).map((f) => {
      const part = report.scores[i] > 0 ? ` ${Math.round((100 * f.share) / report.scores[i])} %` : '';
      return `${f.name}${part}: ${fmt(f.observed)} → ${fmt(f.reconstructed)}`;
    });
    for (const [text, cls] of [[String(i), 'num'], [labels ? labels[i] : '', ''], [fmt(report.scores[i]), 'num'], [features.join('; ') || '–', 'features']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  const shown = Math.min(report.anomalies.length, TABLE_ROWS);
  let hint = report.anomalies.length ? `${shown} of ${report.anomaly_count} anomalous rows.` : 'No row is above the threshold.';
  if (report.anomalies.length && !report.explanations) hint += ' This model kind does not explain its scores by feature.';
  if (report.explanations_capped) hint += ' Explanations were capped at the 10,000 highest-scoring rows.';
  $('anomalies-hint').textContent = hint;
}

function showReport(report, csv, name) {
  $('result').hidden = false;
  const rate = report.rows ? (100 * report.anomaly_count) / report.rows : 0;
  $('summary').textContent = `${name}: ${report.rows} rows scored by ${report.model} version ${report.model_version}; `
    + `${report.anomaly_count} anomalous (${rate.toFixed(1)} %) above `
    + (report.threshold !== undefined ? `the threshold ${fmt(report.threshold)}.` : `their group's threshold (${report.groups.length} groups).`);
  $('summary').dataset.anomalies = report.anomaly_count;
  drawScores(report);
  drawSeries(report, csv);
  drawTable(report, csv);
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

async function score(text, name) {
  pending = { text, name };
  setStatus(`Scoring ${name}…`);
  // The service explains the anomalous rows by default (top 3 features), when its model can.
  try {
    const report = await call('compute', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: text });
    pending = null;
    $('key-form').hidden = true;
    showReport(report, readCsv(text), name);
    setStatus('');
    refreshLive();
  } catch (e) {
    if (e.status === 401) {
      askKey(e.message);
      setStatus(`${name}: waiting for the API key.`, true);
    } else {
      pending = null;
      setStatus(`${name}: ${e.message}`, true);
    }
  }
}

function askKey(message) {
  $('key-message').textContent = message;
  $('key-form').hidden = false;
  $('api-key').focus();
}

// ---- the live part ----------------------------------------------------------------------------

function showModel(info) {
  model = info;
  $('model-name').textContent = info.name;
  $('model-version').textContent = info.version;
  $('model-kind').textContent = info.kind + (info.alias ? `, following @${info.alias}` : '');
  // A model set's members each have their own threshold.
  $('model-threshold').textContent = info.set ? `per group (${info.set.groups.length} groups by ${info.set.group_by})` : fmt(info.threshold.value);
  $('model-features').textContent = `${info.features.length} features`;
  $('model-loaded').textContent = info.loaded_at;
}

function drawLive(recent) {
  const area = canvas($('live-chart'), 200);
  const { svg, left, right, top, bottom } = area;
  const last = recent.batches.length ? recent.batches[recent.batches.length - 1].at : 0;
  const end = Math.max(Date.now() / 1000, last) + 1;
  // The last LIVE_SECONDS at most, but no wider than what was scored (a minute at least).
  const first = recent.batches.find((b) => b.at >= end - LIVE_SECONDS);
  const span = Math.min(LIVE_SECONDS, Math.max(60, first ? (end - first.at) * 1.05 : LIVE_SECONDS));
  const start = end - span;
  const batches = recent.batches.filter((b) => b.at >= start);
  const all = batches.flatMap((b) => b.scores);
  const yTop = scoreTop(all, recent.threshold);
  const xOf = (t) => left + ((t - start) / span) * (right - left);
  const yOf = (s) => bottom - (Math.min(s, yTop) / yTop) * (bottom - top);
  const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  axes(area, yTop, [0, 0.5, 1].map((f) => [left + f * (right - left), clock(start + f * span)]));
  // Dots as zero-length segments of one path each: thousands of rows stay one element.
  const normal = [];
  const anomalous = [];
  let flagged = 0;
  for (const b of batches) {
    const x = xOf(b.at).toFixed(1);
    for (const s of b.scores) {
      const above = s > recent.threshold;
      flagged += above ? 1 : 0;
      (above ? anomalous : normal).push(`M${x},${yOf(s).toFixed(1)}h0`);
    }
  }
  node('path', { class: 'dots', d: normal.join('') }, svg);
  node('path', { class: 'dots anomaly', d: anomalous.join('') }, svg);
  thresholdLine(area, yOf(recent.threshold), recent.threshold);
  if (recent.relative) svg.lastChild.textContent = 'each group\'s threshold (scores relative to it)';
  // A model set's groups of one request are batches of their own, scored at the same time.
  const requests = new Set(batches.map((b) => b.at)).size;
  const summary = $('live-summary');
  summary.dataset.rows = all.length;
  summary.dataset.anomalies = flagged;
  summary.textContent = all.length
    ? `${all.length} rows from ${requests} ${requests === 1 ? 'request' : 'requests'} in the last `
      + `${LIVE_SECONDS / 60} minutes, ${flagged} anomalous; `
      + `model version ${recent.model_version}.`
    : `Nothing scored in the last ${LIVE_SECONDS / 60} minutes (model version ${recent.model_version}).`;
}

function drawDrift(drift) {
  const body = $('drift').querySelector('tbody');
  body.replaceChildren();
  if (!drift.tracking) {
    $('drift-hint').textContent = drift.reason;
    return;
  }
  // A few rows spread over ten bins read as shifted by chance alone.
  const few = drift.rows < 500 ? ' With this few rows the PSI reads high by chance alone.' : '';
  $('drift-hint').textContent = `Over the last ${drift.rows} rows scored (window ${drift.window}); anomaly rate `
    + `${(100 * drift.anomaly_rate).toFixed(1)} %. PSI below 0.1 is stable, above 0.25 shifted.${few}`;
  // A model set's features are compared per group, each with its own model's training data:
  // the most shifted rows of every group, named group · feature.
  const rows = drift.groups
    ? drift.groups.flatMap((g) => g.features.map((f) => ({ ...f, name: `${g.group} · ${f.name}` })))
    : drift.features;
  const shown = [...rows].sort((a, b) => b.psi - a.psi).slice(0, DRIFT_ROWS);
  if (drift.groups) {
    $('drift-hint').textContent += ` Per group (${drift.groups.length} scored lately)`
      + (rows.length > shown.length ? `, the ${shown.length} most shifted of ${rows.length}.` : '.');
  }
  for (const f of shown) {
    const tr = document.createElement('tr');
    for (const [text, cls] of [[f.name, ''], [fmt(f.psi), 'num'], [f.reading, f.reading], [`${(100 * f.out_of_range).toFixed(1)} %`, 'num']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function refreshLive() {
  try {
    const [info, recent, drift] = await Promise.all([call('model'), call('scores/recent'), call('drift')]);
    showModel(info);
    drawLive(recent);
    drawDrift(drift);
    $('live-updated').textContent = `Last updated ${new Date().toLocaleTimeString()}.`;
  } catch (e) {
    $('live-summary').textContent = `The service did not answer: ${e.message}`;
  }
}

// ---- wiring -----------------------------------------------------------------------------------

async function scoreFile(file) {
  if (file) score(await file.text(), file.name);
}

function wire() {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    scoreFile(e.dataTransfer.files[0]);
  });
  $('file').addEventListener('change', (e) => {
    scoreFile(e.target.files[0]);
    e.target.value = '';
  });
  $('score-button').addEventListener('click', () => {
    const text = $('paste').value;
    if (text.trim()) score(text, 'the pasted rows');
    else setStatus('Paste CSV rows with a header line first.', true);
  });
  $('key').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORE, $('api-key').value.trim());
    $('key-form').hidden = true;
    if (pending) score(pending.text, pending.name);
  });
  refreshLive();
  setInterval(refreshLive, REFRESH_MS);
}

wire();
