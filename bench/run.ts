// `npm run bench`: every benchmark, one after the other (they share two cores,
// so never at once), then one report: bench-results/report.{md,json} next to
// each benchmark's own files and the media chart (bench-results/media.png).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { machine } from './media/procStat.js';
import { describeWorkerBinary, formatWorkerBinary } from '../src/media/workerBinary.js';

const steps = [
  { name: 'chat', script: 'bench:chat', md: 'bench-results/chat.md', json: 'bench-results/chat.json' },
  { name: 'viewers shaped like browsers', script: 'bench:viewers', md: 'bench-results/viewers.md', json: 'bench-results/viewers.json' },
  { name: 'media capacity', script: 'bench:media', md: 'bench-results/media.md', json: 'bench-results/media.json' },
  { name: 'join to first frame', script: 'bench:first-frame', md: 'bench-results/first-frame.md', json: 'bench-results/first-frame.json' },
];

// The steps inherit this environment (MEDIASOUP_WORKER_BIN included): they run this binary.
const worker = await describeWorkerBinary();
console.log(`mediasoup-worker: ${formatWorkerBinary(worker)}`);
const only = process.env.BENCH_ONLY?.split(',');
const results: { name: string; ok: boolean; seconds: number }[] = [];
for (const step of steps) {
  if (only && !only.includes(step.name.split(' ')[0]!)) continue;
  const t0 = Date.now();
  console.log(`\n== ${step.name} (npm run ${step.script})`);
  const run = spawnSync('npm', ['run', '--silent', step.script], { stdio: 'inherit' });
  results.push({ name: step.name, ok: run.status === 0, seconds: Math.round((Date.now() - t0) / 1000) });
}

const sections = steps
  .filter((s) => fs.existsSync(s.md))
  .map((s) => `## ${s.name}\n\n${fs.readFileSync(s.md, 'utf8').replace(/^# .*\n/, '')}`);
const report = [
  '# Fourcast benchmark report',
  '',
  `${machine().cores} cores, ${machine().cpu}, Node ${process.version}, ${new Date().toISOString()}.`,
  `mediasoup-worker: ${formatWorkerBinary(worker)}.`,
  'Every number comes from this machine in this run; baselines (bare uWS, socket.io, bare mediasoup) ran in the same run.',
  'Chart: `media.png`.',
  '',
  results.map((r) => `- ${r.name}: ${r.ok ? 'ok' : 'FAILED'} (${r.seconds} s)`).join('\n'),
  '',
  ...sections,
].join('\n');
fs.mkdirSync('bench-results', { recursive: true });
fs.writeFileSync('bench-results/report.md', report);
fs.writeFileSync(
  'bench-results/report.json',
  JSON.stringify(
    {
      machine: machine(),
      worker,
      steps: results,
      ...Object.fromEntries(steps.filter((s) => fs.existsSync(s.json)).map((s) => [s.name, JSON.parse(fs.readFileSync(s.json, 'utf8'))])),
    },
    null,
    2,
  ),
);
console.log('\nwrote bench-results/report.md and report.json');
process.exit(results.every((r) => r.ok) ? 0 : 1);
