import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startShippedNode, type ShippedNode } from '../helpers/shippedNode.js';

// Issue 12, "How it is checked": the attacks from a separate script (loadtest/abuse/check.ts,
// `npm run check:abuse`) against a node started from `npm start` as shipped, with only the
// ports and ADMIN_TOKEN set. The script's own report is asserted here, numbers included.

interface Check {
  status: 'pass' | 'fail' | 'skipped';
  reason?: string;
  observed: Record<string, any>;
}
interface Report {
  passed: boolean;
  checks: Record<string, Check>;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('npm run check:abuse against npm start, as shipped', () => {
  const adminToken = randomBytes(24).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-abuse-'));
  const logFile = path.join(dir, 'node.log');
  let node: ShippedNode;
  let report: Report;
  let script: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    node = await startShippedNode({ env: { ADMIN_TOKEN: adminToken }, logFile });
    script = await run('npm', [
      'run',
      '--silent',
      'check:abuse',
      '--',
      '--url',
      node.http,
      '--publisher-link',
      node.links.broadcast,
      '--admin-token',
      adminToken,
      '--log-file',
      logFile,
    ]);
    try {
      report = JSON.parse(script.stdout) as Report;
    } catch {
      throw new Error(`check:abuse printed no JSON report (exit ${script.code}):\n${script.stdout}\n${script.stderr}`);
    }
  }, 170_000);

  afterAll(async () => {
    await node?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 with every check passed', () => {
    const failed = Object.entries(report.checks).filter(([, c]) => c.status !== 'pass');
    expect(failed, `${JSON.stringify(report, null, 2)}\n${script.stderr}`).toEqual([]);
    expect(report.passed).toBe(true);
    expect(script.code).toBe(0);
    expect(Object.keys(report.checks)).toEqual(['ghostConsumers', 'pipelinedConsume', 'pipelinedCreateTransport', 'roomsPerAddress', 'banSurvivesRoomClose', 'noTokensInLogs']);
  });

  it('300 join → consume → terminate loops: consumers and transports back to baseline, RSS within +15 MiB', () => {
    const o = report.checks.ghostConsumers!.observed;
    console.log(`abuse check: ghosts ${JSON.stringify({ baseline: o.baseline, after: o.after, rssDeltaMiB: o.rssDeltaMiB })}`);
    expect(o.loops).toBe(300);
    // The attack reached mediasoup: a third of the loops waited for their consumer before vanishing.
    expect(o.consumesAnsweredBeforeTerminate.ok).toBeGreaterThan(0);
    expect(o.after.consumers).toBe(o.baseline.consumers);
    expect(o.after.transports).toBe(o.baseline.transports);
    expect(o.rssToleranceMiB).toBe(15);
    expect(o.rssDeltaMiB).toBeLessThanOrEqual(15);
    expect(o.peersInRoomAfter).toBe(1); // the script's publisher
  });

  it('50 pipelined consumes of one producer: exactly one consumer', () => {
    const o = report.checks.pipelinedConsume!.observed;
    expect(o.requests).toBe(50);
    expect(o.succeeded).toBe(1);
    expect(o.consumersCreatedInWorkers).toBe(1);
    expect(o.outcomes.ok + (o.outcomes['invalid-state'] ?? 0)).toBe(50);
  });

  it('60 pipelined createTransport: at most the cap of 4, all released on close', () => {
    const o = report.checks.pipelinedCreateTransport!.observed;
    expect(o.requests).toBe(60);
    expect(o.succeeded).toBeGreaterThanOrEqual(1);
    expect(o.succeeded).toBeLessThanOrEqual(4);
    expect(o.transportsCreatedInWorkers).toBe(o.succeeded);
    expect(o.releasedAfterCloseMs).not.toBeNull();
  });

  it('one address opens no more rooms than ROOMS_PER_ADDRESS (10 by default)', () => {
    const o = report.checks.roomsPerAddress!.observed;
    // A fresh node: the script's publisher opened the stage room, so 9 more fit, then refusals.
    expect(o.alreadyOpenedByThisCheck).toBe(1);
    expect(o.opened).toBe(9);
    expect(o.openListedByAdmin).toBe(9);
    expect(o.outcomes['rate-limited']).toBe(o.attempts - 9);
    expect(o.refusalMetricDelta).toBe(o.attempts - 9);
  });

  it('a banned viewer stays out after the room closes and reopens; another token still gets in', () => {
    const o = report.checks.banSurvivesRoomClose!.observed;
    expect(o.banRequests).toEqual({ anonymous: 'ok', tokenViewer: 'ok' });
    expect(o.closingCodes).toEqual({ anonymous: 'banned', tokenViewer: 'banned' });
    expect(o.roomGone).toBe(true);
    expect(o.reopened).toBe(true);
    expect(o.afterReopen).toEqual({ bannedToken: '403 banned', anonymous: '403 banned', otherToken: 'admitted' });
  });

  it('no token of the printed links nor the admin token is in the node’s log output', () => {
    const out = node.output();
    const token = new URL(node.links.broadcast).searchParams.get('token')!;
    expect(token.split('.')).toHaveLength(3);
    expect(new URL(node.links.watch).searchParams.get('token')).toBeNull();
    // The link itself is printed once at start (development node, PRINT_LINKS): that line and nowhere else.
    expect(count(out, token)).toBe(1);
    expect(count(out, token.split('.')[2]!)).toBe(1);
    const printed = out.split('\n').filter((l) => l.includes(token.split('.')[2]!));
    expect(printed).toEqual([`    ${node.links.broadcast}`]);
    expect(count(out, adminToken)).toBe(0);
    // The script's requests did reach the log, with the token redacted.
    const records = out.split('\n').filter((l) => l.startsWith('{'));
    expect(records.some((l) => l.includes('/broadcast.html?room=main-stage&token=[redacted]'))).toBe(true);
    expect(records.filter((l) => /token=(?!\[redacted\])[\w-]/.test(l))).toEqual([]);
    // The script agrees, on the same output written to a file.
    expect(report.checks.noTokensInLogs!.observed).toMatchObject({ printedLinkLineExcluded: true, occurrences: {} });
    expect(fs.readFileSync(logFile, 'utf8')).toBe(out);
  });
});
