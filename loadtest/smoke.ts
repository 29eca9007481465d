/**
 * Load-test smoke run (`npm run loadtest:smoke`, under a minute): starts a Fourcast node
 * in this process on 127.0.0.1 (free ports, one mediasoup worker, default chat limits),
 * runs loadtest/ws-viewers.js and loadtest/http.js against it with PROFILE=smoke, prints
 * a table, and exits non-zero when k6 fails a threshold (or cannot run).
 *
 * The node logs at `warn` into memory; warnings and errors it logged under load are
 * reported at the end. Summaries go to loadtest/results/smoke-{ws,http}.json
 * (RESULTS_DIR overrides the folder).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../src/config/index.js';
import { startFourcast, type Fourcast } from '../src/server.js';
import { freePortRange } from '../test/helpers/ports.js';
import { findK6, fmt, httpScript, metricValue, projectRoot, readSummary, runK6, table, thresholdResults, wsScript, type K6Run, type K6Summary } from './k6.js';

export interface SmokeOptions {
  /** Where the JSON summaries go. */
  resultsDir?: string;
  /** Echo k6's own output. */
  echo?: boolean;
  /** Extra environment for the node (e.g. CHAT_RATE_PER_SECOND). */
  nodeEnv?: Record<string, string>;
}

export interface SmokePart {
  name: 'ws-viewers' | 'http';
  run: K6Run;
  summaryFile: string;
  summary: K6Summary | undefined;
}

export interface SmokeResult {
  ok: boolean;
  parts: SmokePart[];
  /** Server CPU (main process: signaling, chat, HTTP) during the WebSocket run, ms. */
  serverCpuMs: number;
  serverLog: { warnings: number; errors: number; sample: string[] };
  report: string;
}

/** A Fourcast node on 127.0.0.1 whose warn/error log lines are kept. */
export async function startNode(extraEnv: Record<string, string>): Promise<{ node: Fourcast; log: SmokeResult['serverLog'] }> {
  const kept: SmokeResult['serverLog'] = { warnings: 0, errors: 0, sample: [] };
  const log = pino(
    { level: 'warn' },
    {
      write(line: string) {
        const level = (JSON.parse(line) as { level: number }).level;
        if (level >= 50) kept.errors++;
        else kept.warnings++;
        if (kept.sample.length < 10) kept.sample.push(line.trim());
      },
    },
  );
  const config = loadConfig({
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    WS_HOST: '127.0.0.1',
    WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_PORT_BASE: String(await freePortRange(1)),
    MEDIASOUP_WORKERS: '1',
    LOG_FORMAT: 'json',
    ROOM_GRACE_SECONDS: '1',
    DRAIN_GRACE_SECONDS: '1',
    TOKEN_SECRET: 'loadtest-secret-loadtest-secret-0123456',
    // Loopback only: no public STUN server, no TURN.
    STUN_URLS: 'stun:127.0.0.1:9',
    ...extraEnv,
  });
  const node = await startFourcast(config, log, { clientDir: null });
  const loopback = (u: string) => u.replace('//localhost:', '//127.0.0.1:');
  const urls = { http: loopback(node.urls.http), ws: loopback(node.urls.ws) };
  return { node: Object.assign(Object.create(node) as Fourcast, { urls }), log: kept };
}

export function wsRows(s: K6Summary, cpuMs: number): string[][] {
  const p = s.fourcast?.params ?? {};
  const received = metricValue(s, 'chat_messages_received', 'count') ?? 0;
  return [
    ['viewers / senders', `${String(p.VIEWERS)} / ${String(p.SENDERS)}`],
    ['join success', fmt(metricValue(s, 'join_success', 'rate'), '%')],
    ['join latency p95 / max', `${fmt(metricValue(s, 'join_latency', 'p(95)'), 'ms')} / ${fmt(metricValue(s, 'join_latency', 'max'), 'ms')}`],
    ['chat sent / received', `${fmt(metricValue(s, 'chat_messages_sent', 'count') ?? 0)} / ${fmt(received)}`],
    ['chat delivery p50 / p95 / p99', ['med', 'p(95)', 'p(99)'].map((k) => fmt(metricValue(s, 'chat_delivery_latency', k), 'ms')).join(' / ')],
    ['chat delivery max', fmt(metricValue(s, 'chat_delivery_latency', 'max'), 'ms')],
    ['server ts → client p95', fmt(metricValue(s, 'chat_server_to_client', 'p(95)'), 'ms')],
    ['chatSend ack p95', fmt(metricValue(s, 'chat_send_ack', 'p(95)'), 'ms')],
    ['missed (seq gaps)', fmt(metricValue(s, 'chat_messages_missed', 'count') ?? 0)],
    ['protocol errors', fmt(metricValue(s, 'protocol_errors', 'count') ?? 0)],
    ['ws error rate', fmt(metricValue(s, 'ws_errors', 'rate'), '%')],
    ['max viewerCount seen', fmt(metricValue(s, 'viewer_count_seen', 'max'))],
    // Everything the node's main process did during the run (joins, presence, timers, chat):
    // at smoke size the fixed costs dominate the per-message figure.
    ['server CPU, whole ws run', `${cpuMs.toFixed(0)} ms${received ? ` (${((cpuMs * 1000) / received).toFixed(0)} µs per delivered message, all costs)` : ''}`],
  ];
}

function httpRows(s: K6Summary): string[][] {
  const rows = [
    ['requests', `${fmt(metricValue(s, 'http_reqs', 'count'))} (${fmt(metricValue(s, 'http_reqs', 'rate'))}/s)`],
    ['failed', fmt(metricValue(s, 'http_req_failed', 'rate'), '%')],
    ['checks', fmt(metricValue(s, 'checks', 'rate'), '%')],
  ];
  for (const ep of ['health', 'ready', 'client-config', 'metrics', 'turn']) {
    const key = `http_req_duration{endpoint:${ep}}`;
    if (s.metrics[key]) rows.push([`${ep} p95 / max`, `${fmt(metricValue(s, key, 'p(95)'), 'ms')} / ${fmt(metricValue(s, key, 'max'), 'ms')}`]);
  }
  rows.push(['/api/turn 429s', fmt(metricValue(s, 'turn_rate_limited', 'count') ?? 0)]);
  return rows;
}

export function partStatus(part: SmokePart): string {
  const { run } = part;
  if (run.timedOut) return `TIMED OUT after ${(run.ms / 1000).toFixed(0)} s`;
  if (run.code === 0) return `passed (${(run.ms / 1000).toFixed(1)} s)`;
  if (run.thresholdsFailed) return 'thresholds FAILED';
  return `k6 failed (exit ${run.code ?? run.signal})`;
}

export async function runSmoke(opts: SmokeOptions = {}): Promise<SmokeResult> {
  const k6 = findK6();
  if (!k6) throw new Error('k6 is not installed: run `bash scripts/k6/install.sh` (see loadtest/README.md)');
  const resultsDir = path.resolve(projectRoot, opts.resultsDir ?? process.env.RESULTS_DIR ?? 'loadtest/results');
  fs.mkdirSync(resultsDir, { recursive: true });

  const { node, log } = await startNode(opts.nodeEnv ?? {});
  const parts: SmokePart[] = [];
  let serverCpuMs: number | undefined;
  const onSignal = () => void node.close().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const wsSummary = path.join(resultsDir, 'smoke-ws.json');
    fs.rmSync(wsSummary, { force: true });
    const cpu0 = process.cpuUsage();
    const wsRun = await runK6(k6, wsScript, {
      env: { PROFILE: 'smoke', BASE_WS: node.urls.ws, ROOM: 'smoke', SUMMARY: wsSummary, CHAT_RATE_PER_SECOND: String(node.config.chat.ratePerSecond) },
      timeoutMs: 90_000,
      echo: opts.echo ?? false,
    });
    const cpu = process.cpuUsage(cpu0);
    serverCpuMs = (cpu.user + cpu.system) / 1000;
    parts.push({ name: 'ws-viewers', run: wsRun, summaryFile: wsSummary, summary: fs.existsSync(wsSummary) ? readSummary(wsSummary) : undefined });

    const httpSummary = path.join(resultsDir, 'smoke-http.json');
    fs.rmSync(httpSummary, { force: true });
    const httpRun = await runK6(k6, httpScript, {
      env: { PROFILE: 'smoke', BASE_HTTP: node.urls.http, SUMMARY: httpSummary },
      timeoutMs: 60_000,
      echo: opts.echo ?? false,
    });
    parts.push({ name: 'http', run: httpRun, summaryFile: httpSummary, summary: fs.existsSync(httpSummary) ? readSummary(httpSummary) : undefined });
  } finally {
    process.removeListener('SIGINT', onSignal);
    await node.close();
  }

  const lines: string[] = [`k6: ${k6}`];
  for (const part of parts) {
    lines.push('', `== ${part.name}: ${partStatus(part)}   summary: ${path.relative(projectRoot, part.summaryFile)}`);
    if (!part.summary) {
      lines.push('  no summary was written; k6 said:', ...part.run.stderr.trim().split('\n').slice(-15).map((l) => `  ${l}`));
      continue;
    }
    const rows = part.name === 'ws-viewers' ? wsRows(part.summary, serverCpuMs ?? 0) : httpRows(part.summary);
    lines.push(table([['metric', 'value'], ...rows]).replace(/^/gm, '  '));
    const failed = thresholdResults(part.summary).filter((t) => !t.ok);
    lines.push(failed.length ? `  failed thresholds: ${failed.map((t) => `${t.metric} ${t.expr}`).join('; ')}` : '  all thresholds passed');
  }
  lines.push('', `server log under load: ${log.warnings} warning(s), ${log.errors} error(s)`, ...log.sample.slice(0, 5).map((l) => `  ${l.slice(0, 300)}`));
  const ok = parts.length === 2 && parts.every((p) => p.run.code === 0 && p.summary);
  lines.push('', ok ? 'SMOKE PASSED' : 'SMOKE FAILED');
  return { ok, parts, serverCpuMs: serverCpuMs ?? 0, serverLog: log, report: lines.join('\n') };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  try {
    const result = await runSmoke({ echo: process.env.K6_ECHO === '1' });
    console.log(result.report);
    process.exitCode = result.ok ? 0 : 1;
  } catch (err) {
    console.error(`[loadtest:smoke] ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
