/** The benchmark's result shapes and its markdown rendering. */
import type { ServerKind } from './shared.js';

export interface PhaseReport {
  label: 'base' | 'overload';
  /** Send rate asked for, messages/s over all senders. */
  rate: number;
  /** What the schedule asked for; `sent` below it means the senders' generator could not keep the rate. */
  targetSent: number;
  sent: number;
  /** sent × N / window. */
  expectedPerSecond: number;
  /** Viewer deliveries received inside the window / window. */
  deliveredPerSecond: number;
  deliveredTotal: number;
  /** Viewer deliveries by the end of the grace period / (sent × N). */
  deliveryRatio: number;
  latencySamples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Server process CPU (user+system, window + grace) / every delivery in that time (viewers and senders). */
  serverCpuUsPerDelivery: number;
  serverCores: number;
  generatorCores: number;
  generatorLoopDelayP99Ms: number;
  /** Machine CPU used by anything but the server and the generators (other people's work): disturbance. */
  otherCores: number;
  /** Machine-wide interrupt + softirq time (loopback TCP work of everyone). */
  irqCores: number;
  stealCores: number;
  rssEndBytes: number;
  sendErrors: Record<string, number>;
  closes: Record<string, number>;
  openViewersAfter: number;
  serverLog: Record<string, number>;
}

export interface PointReport {
  server: ServerKind;
  n: number;
  senders: number;
  viewersConnected: number;
  connectFailures: number;
  connectErrors: Record<string, number>;
  connectSeconds: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** (RSS after connecting − RSS before) / viewers connected (N), after a full GC both times. */
  rssPerConnectionBytes: number;
  /** Server CPU (cores) with no connections, and with N viewers connected, no chat. */
  idleServerCoresEmpty: number;
  idleServerCores: number;
  /** Machine CPU use (cores) just before the point started, after waiting for quiet. */
  machineBusyCoresBefore: number;
  waitedForQuietSeconds: number;
  phases: PhaseReport[];
  serverLog: Record<string, number>;
  fileLimits: { server: number; generators: number[] };
  seconds: number;
}

export interface RatioReport {
  n: number;
  fourcastVsUwsBase: number;
  fourcastVsUwsOverload: number;
  /** uWS µs per delivery / Fourcast µs per delivery (1 = as cheap as the bare server). */
  fourcastVsUwsCpuEfficiency: number;
  fourcastVsUwsCpuEfficiencyOverload: number;
  fourcastVsSocketioOverload: number;
  fourcastVsSocketioCpuEfficiency: number;
  /** Under overload socket.io is saturated and Fourcast is not: a lower bound of the capacity ratio per server core. */
  fourcastVsSocketioCpuEfficiencyOverload: number;
  socketioFellBehind: boolean;
  /** Two cluster nodes (viewers and senders split, Redis between them) ÷ one node: delivered per second. */
  twoNodesVsOneBase: number;
  twoNodesVsOneOverload: number;
  /** Server-side µs per delivery (both nodes and Redis) ÷ one node's: what the cluster hop costs. */
  twoNodesCpuPerDeliveryVsOne: number;
  twoNodesCpuPerDeliveryVsOneOverload: number;
}

export interface RunReport {
  date: string;
  machine: {
    cores: number;
    cpuModel: string;
    node: string;
    platform: string;
    memoryBytes: number;
    openFileLimit: number;
    loadAverageAtEnd: number[];
  };
  settings: Record<string, unknown>;
  points: PointReport[];
  ratios: RatioReport[];
  failures: { server: ServerKind; n: number; error: string }[];
  seconds: number;
}

const names: Record<ServerKind, string> = { fourcast: 'Fourcast', 'fourcast-2': 'Fourcast, 2 nodes + Redis', uws: 'bare uWS', socketio: 'socket.io' };

const f = (v: number, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a');

function notes(p: PointReport, ph: PhaseReport): string {
  const out: string[] = [];
  if (ph.sent < 0.98 * ph.targetSent) out.push(`senders lagged: ${f(ph.sent)} of ${f(ph.targetSent)} sent`);
  const closes = Object.entries(ph.closes);
  if (closes.length) out.push(`closed: ${closes.map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  const errs = Object.entries(ph.sendErrors);
  if (errs.length) out.push(`send errors: ${errs.map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  const logs = Object.entries(ph.serverLog);
  if (logs.length) out.push(`server log: ${logs.map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  if (ph.generatorLoopDelayP99Ms > 50) out.push(`generator busy (loop p99 ${f(ph.generatorLoopDelayP99Ms)} ms)`);
  if (ph.otherCores > 0.2) out.push(`other load ${ph.otherCores.toFixed(2)} cores`);
  if (ph.label === 'base' && p.connectFailures) out.push(`${p.connectFailures} connects failed`);
  if (ph.label === 'base' && p.machineBusyCoresBefore > 0.25) out.push(`machine busy at start (${f(p.machineBusyCoresBefore, 2)} cores)`);
  return out.join('; ');
}

export function renderMarkdown(r: RunReport): string {
  const lines: string[] = [];
  lines.push(`# Chat fan-out benchmark (${r.date})`);
  lines.push('');
  lines.push(
    `${r.machine.cores} cores, ${r.machine.cpuModel}, Node ${r.machine.node}, ${r.machine.platform}. ` +
      `Window ${Number(r.settings.durationMs) / 1000} s + ${Number(r.settings.graceMs) / 1000} s grace per rate, ${String(r.settings.senders)} senders, ` +
      `${String(r.settings.generators)} load-generator processes, everything on 127.0.0.1 of this machine.`,
  );
  lines.push('');
  lines.push(
    '| N | server | phase | rate msg/s | expected deliv/s | delivered/s | ratio | p50 ms | p99 ms | server µs/deliv | server cores | gen cores | other cores | RSS/conn KB | notes |',
  );
  lines.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const p of r.points) {
    for (const ph of p.phases) {
      lines.push(
        `| ${f(p.n)} | ${names[p.server]} | ${ph.label} | ${f(ph.rate, 1)} | ${f(ph.expectedPerSecond)} | ${f(ph.deliveredPerSecond)} | ${f(ph.deliveryRatio * 100, 1)}% | ` +
          `${f(ph.p50Ms, 1)} | ${f(ph.p99Ms, 1)} | ${f(ph.serverCpuUsPerDelivery, 2)} | ${f(ph.serverCores, 2)} | ${f(ph.generatorCores, 2)} | ${f(ph.otherCores, 2)} | ` +
          `${ph.label === 'base' ? f(p.rssPerConnectionBytes / 1024, 1) : ''} | ${notes(p, ph)} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    'Idle server CPU (cores, no chat) with no connections → with N viewers connected: ' +
      r.points.map((p) => `${names[p.server]} N=${p.n}: ${f(p.idleServerCoresEmpty, 3)} → ${f(p.idleServerCores, 3)}`).join('; ') +
      '.',
  );
  lines.push('');
  lines.push('## Ratios (same run)');
  lines.push('');
  lines.push(
    '| N | Fourcast / uWS delivered (base) | Fourcast / uWS delivered (overload) | Fourcast / uWS CPU efficiency (base / overload) | Fourcast / socket.io delivered (overload) | Fourcast / socket.io CPU efficiency (base / overload) |',
  );
  lines.push('|---:|---:|---:|---:|---:|---:|');
  for (const q of r.ratios) {
    lines.push(
      `| ${f(q.n)} | ${x(q.fourcastVsUwsBase)} | ${x(q.fourcastVsUwsOverload)} | ${x(q.fourcastVsUwsCpuEfficiency)} / ${x(q.fourcastVsUwsCpuEfficiencyOverload)} | ` +
        `${x(q.fourcastVsSocketioOverload)}${q.socketioFellBehind ? '' : ' (socket.io kept up: not an overload)'} | ${x(q.fourcastVsSocketioCpuEfficiency)} / ${x(q.fourcastVsSocketioCpuEfficiencyOverload)} |`,
    );
  }
  if (r.ratios.some((q) => Number.isFinite(q.twoNodesVsOneBase))) {
    lines.push('');
    lines.push('| N | 2 nodes / 1 node delivered (base / overload) | 2 nodes / 1 node server µs per delivery (base / overload) |');
    lines.push('|---:|---:|---:|');
    for (const q of r.ratios) {
      lines.push(`| ${f(q.n)} | ${x(q.twoNodesVsOneBase)} / ${x(q.twoNodesVsOneOverload)} | ${x(q.twoNodesCpuPerDeliveryVsOne)} / ${x(q.twoNodesCpuPerDeliveryVsOneOverload)} |`);
    }
    lines.push('');
    lines.push(
      '2 nodes: two Fourcast processes in cluster mode on one redis-server, viewers and senders split between them; their CPU and Redis’s is the server side. ' +
        'On this 2-core machine both nodes, Redis and the load generators share the same cores.',
    );
  }
  lines.push('');
  lines.push(
    'Goals: Fourcast / uWS ≥ 0.8×; Fourcast / socket.io delivered under overload ≥ 10×. ' +
      'CPU efficiency = the other server’s µs per delivery ÷ Fourcast’s, at the base and at the overload rate.',
  );
  if (r.failures.length) {
    lines.push('');
    lines.push('## Failures');
    for (const fl of r.failures) lines.push(`- ${names[fl.server]} N=${fl.n}: ${fl.error.split('\n')[0]}`);
  }
  lines.push('');
  return lines.join('\n');
}
