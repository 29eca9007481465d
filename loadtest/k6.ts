/**
 * Node-side helpers around the k6 binary: find it (as scripts/k6/install.sh does), run a
 * script with a bounded wall-clock budget, and read back the JSON summary the scripts'
 * handleSummary writes. Used by loadtest/smoke.ts and test/loadtest/k6.int.test.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const loadtestDir = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.resolve(loadtestDir, '..');
export const wsScript = path.join(loadtestDir, 'ws-viewers.js');
export const httpScript = path.join(loadtestDir, 'http.js');

function executable(p: string | undefined): p is string {
  if (!p) return false;
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function goEnv(name: string): string | undefined {
  for (const go of ['go', '/usr/local/go/bin/go']) {
    try {
      const out = execFileSync(go, ['env', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
      return out || undefined;
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

/** The k6 binary: $K6_BIN, then PATH, then Go's bin folder ($GOBIN, $(go env GOPATH)/bin, ~/go/bin). */
export function findK6(): string | undefined {
  if (executable(process.env.K6_BIN)) return process.env.K6_BIN;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = dir && path.join(dir, 'k6');
    if (executable(candidate)) return candidate;
  }
  const gobin = process.env.GOBIN ?? goEnv('GOBIN');
  if (gobin && executable(path.join(gobin, 'k6'))) return path.join(gobin, 'k6');
  const gopath = process.env.GOPATH ?? goEnv('GOPATH');
  const first = gopath?.split(path.delimiter)[0];
  if (first && executable(path.join(first, 'bin', 'k6'))) return path.join(first, 'bin', 'k6');
  const home = path.join(os.homedir(), 'go', 'bin', 'k6');
  return executable(home) ? home : undefined;
}

export interface K6Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** k6 exits 99 when thresholds fail. */
  thresholdsFailed: boolean;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface K6Options {
  env: Record<string, string>;
  /** Kill k6 (SIGINT, then SIGKILL) after this long. */
  timeoutMs: number;
  /** Echo k6's output while it runs. */
  echo?: boolean;
  args?: string[];
}

/** `k6 run` a script. Never throws for k6's own failures: look at `code`. */
export function runK6(k6: string, script: string, opts: K6Options): Promise<K6Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // --address '': no REST API server on localhost:6565, so several k6 runs can share a machine.
    const child = spawn(k6, ['run', '--quiet', '--no-color', '--no-usage-report', '--address', '', ...(opts.args ?? []), script], {
      cwd: projectRoot,
      env: { ...process.env, K6_NO_USAGE_REPORT: 'true', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (opts.echo) process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (opts.echo) process.stderr.write(d);
    });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGINT');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      resolve({ code, signal, thresholdsFailed: code === 99, timedOut, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** `k6 inspect` a script: parses it and evaluates its options (throws with k6's message on error). */
export function inspectK6(k6: string, script: string, env: Record<string, string> = {}): { scenarios?: Record<string, unknown>; thresholds?: Record<string, unknown> } {
  // `k6 inspect` does not see the process environment (unlike `k6 run`): pass it with -e.
  const vars = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const out = execFileSync(k6, ['inspect', ...vars, script], {
    cwd: projectRoot,
    env: { ...process.env, K6_NO_USAGE_REPORT: 'true' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  // k6 prints the consolidated options object (older versions wrapped it in { options }).
  type Options = { scenarios?: Record<string, unknown>; thresholds?: Record<string, unknown> };
  const parsed = JSON.parse(out) as Options & { options?: Options };
  return parsed.options ?? parsed;
}

interface SummaryMetric {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains?: string;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}
export interface K6Summary {
  fourcast?: { title: string; params: Record<string, unknown> };
  metrics: Record<string, SummaryMetric>;
}

export function readSummary(file: string): K6Summary {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as K6Summary;
}

/** Every threshold of a summary: metric, expression, pass/fail. */
export function thresholdResults(summary: K6Summary): { metric: string; expr: string; ok: boolean }[] {
  return Object.entries(summary.metrics).flatMap(([metric, m]) => Object.entries(m.thresholds ?? {}).map(([expr, t]) => ({ metric, expr, ok: t.ok })));
}

export function metricValue(summary: K6Summary, metric: string, stat: string): number | undefined {
  return summary.metrics[metric]?.values[stat];
}

/** A fixed-width text table. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r, ri) => {
    const line = r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
    return ri === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

export function fmt(v: number | undefined, unit: 'ms' | '%' | '' = ''): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (unit === 'ms') return `${v.toFixed(1)} ms`;
  if (unit === '%') return `${(v * 100).toFixed(2)} %`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
