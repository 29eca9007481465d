/* global __ENV */
// Shared helpers for the k6 scripts in this folder (k6 JavaScript, not Node).

/** An environment variable, or the profile's value, or the default. */
export function env(name, profileValue, fallback) {
  const v = __ENV[name];
  if (v !== undefined && v !== '') return v;
  return profileValue !== undefined ? profileValue : fallback;
}

export function envNumber(name, profileValue, fallback) {
  const raw = env(name, profileValue, fallback);
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

/** "1m30s", "20s", "500ms", "2h" or plain milliseconds → milliseconds. */
export function durationMs(name, profileValue, fallback) {
  const raw = String(env(name, profileValue, fallback)).trim();
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(raw)) !== null) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
    total += Number(m[1]) * unit;
    consumed += m[0].length;
  }
  if (consumed !== raw.length || consumed === 0) throw new Error(`${name} must be a duration such as 30s, 2m or 1m30s, got "${raw}"`);
  return total;
}

/** Milliseconds in k6's duration syntax ("12500ms"). */
export function k6Duration(ms) {
  return `${Math.max(0, Math.round(ms))}ms`;
}

function fmtNumber(v, unit) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return String(v);
  if (unit === 'ms') return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(v < 10 ? 2 : 1)}ms`;
  if (unit === '%') return `${(v * 100).toFixed(2)}%`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/**
 * A plain-text end-of-test summary (k6's own text summary is replaced by
 * handleSummary, and jslib.k6.io may be unreachable): every metric, then the
 * thresholds with ✓/✗.
 */
export function textSummary(data, title) {
  const lines = [];
  const metrics = data.metrics || {};
  const names = Object.keys(metrics).sort();
  const width = Math.min(48, Math.max(10, ...names.map((n) => n.length)));
  lines.push('', `█ ${title}`, '');
  for (const name of names) {
    const m = metrics[name];
    const v = m.values || {};
    const unit = m.contains === 'time' ? 'ms' : '';
    let desc;
    if (m.type === 'trend') {
      desc = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)']
        .filter((k) => k in v)
        .map((k) => `${k}=${fmtNumber(v[k], unit)}`)
        .join(' ');
    } else if (m.type === 'rate') {
      desc = `${fmtNumber(v.rate, '%')} (${v.passes ?? '?'} of ${(v.passes ?? 0) + (v.fails ?? 0)})`;
    } else if (m.type === 'counter') {
      desc = `${fmtNumber(v.count, unit)} (${fmtNumber(v.rate, '')}/s)`;
    } else {
      desc = `value=${fmtNumber(v.value, unit)} min=${fmtNumber(v.min, unit)} max=${fmtNumber(v.max, unit)}`;
    }
    const pad = name.length < width ? ' '.repeat(width - name.length) : ' ';
    lines.push(`  ${name}${pad}${desc}`);
  }
  const thresholds = [];
  for (const name of names) {
    for (const [expr, t] of Object.entries(metrics[name].thresholds || {})) thresholds.push({ name, expr, ok: t.ok });
  }
  if (thresholds.length) {
    lines.push('', '  thresholds:');
    for (const t of thresholds) lines.push(`    ${t.ok ? '✓' : '✗'} ${t.name}: ${t.expr}`);
  }
  const failed = thresholds.filter((t) => !t.ok).length;
  lines.push('', failed ? `  RESULT: ${failed} threshold(s) FAILED` : '  RESULT: all thresholds passed', '');
  return lines.join('\n');
}

/** handleSummary's return value: the JSON file (with the run's parameters) and the text on stdout. */
export function summaryOutputs(data, { defaultPath, title, params }) {
  const path = env('SUMMARY', undefined, defaultPath);
  const out = { stdout: textSummary(data, title) };
  if (path && path !== '-') out[path] = JSON.stringify({ fourcast: { title, params, finishedAt: new Date().toISOString() }, ...data }, null, 2);
  return out;
}
