/**
 * `npm run bench:worker-ab`: two mediasoup-worker builds, same load, same run.
 *
 * Runs bench:viewers' Fourcast target (browser-shaped receivers, one pinned worker) with
 * binary A, then B, then A… (BENCH_AB_PAIRS pairs, alternating so drift on a noisy machine
 * hits both alike), and reports B's worker CPU per received packet as a ratio of A's, pair by
 * pair and as the median. Every child run's raw JSON is kept in the report.
 *
 *   BENCH_AB_A, BENCH_AB_B   worker binaries (A defaults to the installed one)
 *   BENCH_AB_VIEWERS         viewers per window (default 120)
 *   BENCH_AB_PAIRS           A/B pairs (default 3)
 *   BENCH_AB_WINDOW_S        seconds per window (default 30)
 *   BENCH_AB_OUT             report name in bench-results/ (default worker-ab)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as mediasoup from 'mediasoup';
import { describeWorkerBinary } from '../../src/media/workerBinary.js';
import { outDir, writeReport } from './output.js';
import { machine } from './procStat.js';

const A = process.env.BENCH_AB_A ?? mediasoup.workerBin;
const B = process.env.BENCH_AB_B;
const VIEWERS = Number(process.env.BENCH_AB_VIEWERS ?? 120);
const PAIRS = Number(process.env.BENCH_AB_PAIRS ?? 3);
const WINDOW_S = Number(process.env.BENCH_AB_WINDOW_S ?? 30);
const OUT = process.env.BENCH_AB_OUT ?? 'worker-ab';

interface Window {
  pass: boolean;
  usPerPacket: number;
  ppsPerCore: number;
  viewersPerCore: number;
  workerCores: number;
  receivedRatio: number;
  lost: number;
}

function runOnce(bin: string, label: string, i: number): { window: Window; raw: unknown } {
  const name = `${OUT}-${label}-${i}`;
  const run = spawnSync('npx', ['tsx', 'bench/media/viewers.ts'], {
    stdio: 'inherit',
    env: {
      ...process.env,
      MEDIASOUP_WORKER_BIN: bin,
      BENCH_VIEWERS_TARGETS: 'fourcast',
      BENCH_VIEWERS_STEPS: String(VIEWERS),
      BENCH_VIEWERS_REPS: '1',
      BENCH_VIEWERS_OVERLOAD: '0',
      BENCH_VIEWERS_WINDOW_S: String(WINDOW_S),
      BENCH_VIEWERS_OUT: name,
    },
  });
  if (run.status !== 0) throw new Error(`bench:viewers with ${label} (${bin}) exited ${run.status}`);
  const raw = JSON.parse(fs.readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as { windows: Window[] };
  const window = raw.windows[0];
  if (!window) throw new Error(`bench:viewers with ${label} measured no window`);
  return { window, raw };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  if (!B) throw new Error('BENCH_AB_B: the worker binary to compare with A (the installed one unless BENCH_AB_A is set)');
  for (const bin of [A, B]) if (!fs.existsSync(bin)) throw new Error(`no worker binary at ${bin}`);
  const workers = { a: await describeWorkerBinary(A), b: await describeWorkerBinary(B) };
  const pairs: { a: Window; b: Window; ratio: number }[] = [];
  const raws: unknown[] = [];
  for (let i = 1; i <= PAIRS; i++) {
    const a = runOnce(A, 'a', i);
    const b = runOnce(B, 'b', i);
    raws.push(a.raw, b.raw);
    // Worker CPU per packet the receivers got: below 1, B forwards the same load for less.
    pairs.push({ a: a.window, b: b.window, ratio: b.window.usPerPacket / a.window.usPerPacket });
    console.log(`pair ${i}: A ${a.window.usPerPacket.toFixed(2)} µs/pkt, B ${b.window.usPerPacket.toFixed(2)} µs/pkt → B÷A ${pairs.at(-1)!.ratio.toFixed(3)}`);
  }
  const report = { date: new Date().toISOString(), machine: machine(), settings: { viewers: VIEWERS, pairs: PAIRS, windowS: WINDOW_S }, workers, pairs, medianRatio: median(pairs.map((p) => p.ratio)), runs: raws };
  const f2 = (v: number) => v.toFixed(2);
  const md = [
    `# Worker A/B: CPU per forwarded packet (${report.date})`,
    '',
    `${report.machine.cores} cores, ${report.machine.cpu}. bench:viewers' Fourcast target: ${VIEWERS} browser-shaped viewers of a 4-broadcaster stage, ${WINDOW_S} s windows, worker pinned to its own core; A and B alternate.`,
    '',
    `- A: ${path.basename(path.dirname(A))}/${path.basename(A)} (sha256 ${workers.a.sha256?.slice(0, 12) ?? '?'}, ${workers.a.origin}${workers.a.cacheKey ? `, cache ${workers.a.cacheKey}` : ''})`,
    `- B: ${path.basename(path.dirname(B))}/${path.basename(B)} (sha256 ${workers.b.sha256?.slice(0, 12) ?? '?'}, ${workers.b.origin}${workers.b.cacheKey ? `, cache ${workers.b.cacheKey}` : ''})`,
    '',
    '| pair | A µs/pkt | B µs/pkt | B ÷ A | A pkt/s per core | B pkt/s per core | A passed | B passed |',
    '|---:|---:|---:|---:|---:|---:|---|---|',
    ...pairs.map((p, i) => `| ${i + 1} | ${f2(p.a.usPerPacket)} | ${f2(p.b.usPerPacket)} | ${p.ratio.toFixed(3)} | ${Math.round(p.a.ppsPerCore).toLocaleString('en-US')} | ${Math.round(p.b.ppsPerCore).toLocaleString('en-US')} | ${p.a.pass ? 'yes' : 'no'} | ${p.b.pass ? 'yes' : 'no'} |`),
    '',
    `Median B ÷ A: **${report.medianRatio.toFixed(3)}** (below 1: B costs less per packet).`,
    '',
  ].join('\n');
  writeReport(OUT, report, md);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
