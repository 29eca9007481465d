/**
 * k6 against a two-node cluster (`npm run loadtest:cluster`, under a minute): starts a
 * redis-server of its own on a free 127.0.0.1 port and two Fourcast nodes on it (in this
 * process, as the smoke run does), then runs loadtest/ws-viewers.js with PROFILE=smoke and
 * BASE_WS naming both nodes: viewers alternate between them, senders sit on both, and every
 * viewer must get every line (no gap, nothing left undelivered at the end) in the room's one
 * cluster-wide sequence. Exits 1 when a threshold fails, 2 when k6 or redis-server is missing.
 *
 * REDIS_SERVER names another redis-server binary. Summary: loadtest/results/cluster-ws.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { findK6, metricValue, projectRoot, readSummary, runK6, table, thresholdResults, wsScript } from './k6.js';
import { partStatus, startNode, wsRows, type SmokePart } from './smoke.js';

export interface ClusterSmokeResult {
  ok: boolean;
  part: SmokePart;
  /** chat_messages_received per node index. */
  receivedPerNode: number[];
  report: string;
}

export async function runClusterSmoke(opts: { resultsDir?: string; echo?: boolean } = {}): Promise<ClusterSmokeResult> {
  const k6 = findK6();
  if (!k6) throw new Error('k6 is not installed: run `bash scripts/k6/install.sh` (see loadtest/README.md)');
  const resultsDir = path.resolve(projectRoot, opts.resultsDir ?? process.env.RESULTS_DIR ?? 'loadtest/results');
  fs.mkdirSync(resultsDir, { recursive: true });

  let redis: TestRedis | undefined;
  const nodes: Awaited<ReturnType<typeof startNode>>[] = [];
  try {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) nodes.push(await startNode({ REDIS_URL: redis.url }));
    const summaryFile = path.join(resultsDir, 'cluster-ws.json');
    fs.rmSync(summaryFile, { force: true });
    const cpu0 = process.cpuUsage();
    const run = await runK6(k6, wsScript, {
      env: { PROFILE: 'smoke', BASE_WS: nodes.map((n) => n.node.urls.ws).join(','), ROOM: 'cluster-smoke', SUMMARY: summaryFile, CHAT_RATE_PER_SECOND: String(nodes[0]!.node.config.chat.ratePerSecond) },
      timeoutMs: 90_000,
      echo: opts.echo ?? false,
    });
    const cpu = process.cpuUsage(cpu0);
    const part: SmokePart = { name: 'ws-viewers', run, summaryFile, summary: fs.existsSync(summaryFile) ? readSummary(summaryFile) : undefined };
    const receivedPerNode = nodes.map((_, i) => (part.summary ? (metricValue(part.summary, `chat_messages_received{node:${i}}`, 'count') ?? 0) : 0));

    const lines = [`k6: ${k6}; two nodes on ${redis.url}`, '', `== ws-viewers over 2 nodes: ${partStatus(part)}   summary: ${path.relative(projectRoot, summaryFile)}`];
    if (part.summary) {
      const rows = [...wsRows(part.summary, (cpu.user + cpu.system) / 1000), ...receivedPerNode.map((n, i) => [`received on node ${i}`, String(n)])];
      lines.push(table([['metric', 'value'], ...rows]).replace(/^/gm, '  '));
      const failed = thresholdResults(part.summary).filter((t) => !t.ok);
      lines.push(failed.length ? `  failed thresholds: ${failed.map((t) => `${t.metric} ${t.expr}`).join('; ')}` : '  all thresholds passed');
    } else lines.push('  no summary was written; k6 said:', ...run.stderr.trim().split('\n').slice(-15).map((l) => `  ${l}`));
    const warned = nodes.reduce((n, x) => n + x.log.warnings + x.log.errors, 0);
    lines.push('', `server logs under load: ${warned} warning(s)/error(s)`, ...nodes.flatMap((x) => x.log.sample.slice(0, 3)).map((l) => `  ${l.slice(0, 300)}`));
    const ok = run.code === 0 && part.summary !== undefined;
    lines.push('', ok ? 'CLUSTER SMOKE PASSED' : 'CLUSTER SMOKE FAILED');
    return { ok, part, receivedPerNode, report: lines.join('\n') };
  } finally {
    for (const n of nodes) await n.node.close();
    await redis?.stop();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  try {
    const result = await runClusterSmoke({ echo: process.env.K6_ECHO === '1' });
    console.log(result.report);
    process.exitCode = result.ok ? 0 : 1;
  } catch (err) {
    console.error(`[loadtest:cluster] ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
