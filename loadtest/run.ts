/**
 * The full load test (`npm run loadtest`) against a node that is already running:
 *
 *   BASE_WS=ws://127.0.0.1:3001/ws BASE_HTTP=http://127.0.0.1:3000 npm run loadtest
 *
 * Runs loadtest/ws-viewers.js, then loadtest/http.js, with PROFILE (default `default`)
 * and every other variable passed through to k6 (VUS, CONNS_PER_VU, DURATION, ...; see
 * loadtest/README.md). `npm run loadtest -- ws` or `-- http` runs one script only;
 * PARALLEL=1 runs both at once (the HTTP plane measured while the room is busy).
 * Exits non-zero when any run fails its thresholds. Summaries: loadtest/results/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { findK6, httpScript, projectRoot, runK6, wsScript, type K6Run } from './k6.js';

const which = process.argv[2] ?? 'all';
if (!['all', 'ws', 'http'].includes(which)) {
  console.error('usage: npm run loadtest [-- ws|http]');
  process.exit(2);
}
const k6 = findK6();
if (!k6) {
  console.error('[loadtest] k6 is not installed: run `bash scripts/k6/install.sh` (see loadtest/README.md)');
  process.exit(2);
}

const env = {
  PROFILE: process.env.PROFILE ?? 'default',
  BASE_WS: process.env.BASE_WS ?? 'ws://127.0.0.1:3001/ws',
  BASE_HTTP: process.env.BASE_HTTP ?? 'http://127.0.0.1:3000',
};
const resultsDir = path.resolve(projectRoot, process.env.RESULTS_DIR ?? 'loadtest/results');
fs.mkdirSync(resultsDir, { recursive: true });
// Bounded in time: the scripts stop themselves; this is the backstop.
const timeoutMs = Number(process.env.K6_TIMEOUT_MS ?? 30 * 60_000);

const runs: { name: string; script: string; summary: string }[] = [];
if (which !== 'http') runs.push({ name: 'ws-viewers', script: wsScript, summary: process.env.WS_SUMMARY ?? path.join(resultsDir, 'ws-summary.json') });
if (which !== 'ws') runs.push({ name: 'http', script: httpScript, summary: process.env.HTTP_SUMMARY ?? path.join(resultsDir, 'http-summary.json') });

console.log(`[loadtest] k6 ${k6}; profile ${env.PROFILE}; ${env.BASE_WS} and ${env.BASE_HTTP}`);
const start = (r: (typeof runs)[number]) => runK6(k6, r.script, { env: { ...env, SUMMARY: r.summary }, timeoutMs, echo: true });
const results: K6Run[] = [];
if (process.env.PARALLEL === '1') results.push(...(await Promise.all(runs.map(start))));
else for (const r of runs) results.push(await start(r));

let failed = 0;
results.forEach((res, i) => {
  const r = runs[i]!;
  const status = res.timedOut ? 'timed out' : res.code === 0 ? 'passed' : res.thresholdsFailed ? 'thresholds FAILED' : `failed (exit ${res.code ?? res.signal})`;
  if (res.code !== 0) failed++;
  console.log(`[loadtest] ${r.name}: ${status} in ${(res.ms / 1000).toFixed(1)} s; summary ${path.relative(projectRoot, r.summary)}`);
});
process.exitCode = failed ? 1 : 0;
