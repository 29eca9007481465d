import fs from 'node:fs';
import * as mediasoup from 'mediasoup';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/media/workerPool.js';
import { describeWorkerBinary } from '../../src/media/workerBinary.js';
import { probeWorkerIsolation, procStatus } from '../../src/media/workerIsolation.js';
import { silentLog } from '../helpers/pool.js';
import { freePortRange } from '../helpers/ports.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function pool(count: number, isolate?: boolean): Promise<WorkerPool> {
  return WorkerPool.create({ count, logLevel: 'warn', listen: [{ ip: '127.0.0.1' }], portBase: await freePortRange(count), log: silentLog, ...(isolate === undefined ? {} : { isolate }) });
}

describe('mediasoup workers isolated from signals sent to the whole service', () => {
  let p: WorkerPool | undefined;
  afterEach(async () => {
    p?.close();
    await p?.exited(3000);
    p = undefined;
  });

  it('this machine has setsid and env --block-signal, proven on a throwaway process', () => {
    expect(probeWorkerIsolation()).toEqual({ isolated: true, setsid: expect.stringMatching(/\/setsid$/), env: expect.stringMatching(/\/env$/) });
  });

  it('the pid mediasoup reports is the real worker binary, in a session of its own with SIGINT/SIGTERM blocked', async () => {
    const envBefore = { ...process.env };
    p = await pool(2);
    expect(p.isolation.isolated).toBe(true);
    const realBin = fs.realpathSync(mediasoup.workerBin);
    for (const w of p.workers) {
      expect(fs.readlinkSync(`/proc/${w.pid}/exe`)).toBe(realBin);
      expect(procStatus(w.pid)).toEqual({ session: w.pid, pgrp: w.pid, blocksStopSignals: true });
      // Still Node's child: Node reaps it and gets its exit status.
      const stat = fs.readFileSync(`/proc/${w.pid}/stat`, 'utf8');
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])).toBe(process.pid);
      // getResourceUsage talks to that process over its channel.
      const ru = await w.worker.getResourceUsage();
      expect(ru.ru_maxrss).toBeGreaterThan(0);
    }
    await p.sampleCpu();
    // The hook variables were set only while spawning; the binary mediasoup names and its provenance are the real ones.
    expect(process.env).toEqual(envBefore);
    expect(mediasoup.workerBin).not.toMatch(/setsid|env$/);
    const info = await describeWorkerBinary();
    expect(info.path).toBe(mediasoup.workerBin);
    expect(info.sha256).toBe((await describeWorkerBinary(realBin)).sha256);
  });

  it('SIGTERM and SIGINT sent to a worker leave it running; SIGKILL is still a death that gets replaced', async () => {
    p = await pool(1);
    const w = p.workers[0]!;
    const died: number[] = [];
    p.on('workerdied', (i) => died.push(i));
    process.kill(w.pid, 'SIGTERM');
    process.kill(w.pid, 'SIGINT');
    await sleep(600); // a worker that takes the signal closes and exits within ~200 ms
    expect(running(w.pid)).toBe(true);
    expect(w.closed).toBe(false);
    expect(died).toEqual([]);
    expect((await w.worker.dump()).pid).toBe(w.pid);

    const replaced = new Promise<number>((resolve) => p!.once('workerreplaced', (fresh) => resolve(fresh.pid)));
    process.kill(w.pid, 'SIGKILL');
    const freshPid = await replaced;
    expect(died).toEqual([0]);
    expect(freshPid).not.toBe(w.pid);
    expect(procStatus(freshPid)).toEqual({ session: freshPid, pgrp: freshPid, blocksStopSignals: true });
  });

  it('close() ends the workers through their channel (SIGTERM is blocked) and exited() resolves once they are gone', async () => {
    p = await pool(2);
    const pids = p.workers.map((w) => w.pid);
    expect(p.runningPids.sort()).toEqual([...pids].sort());
    const start = Date.now();
    p.close();
    expect(await p.exited(3000)).toBe(true);
    expect(Date.now() - start).toBeLessThan(2000);
    expect(p.runningPids).toEqual([]);
    // Reaped by Node: no trace in /proc.
    for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('isolate: false starts workers as mediasoup does, in Node’s session, where SIGTERM closes them', async () => {
    p = await pool(1, false);
    const w = p.workers[0]!;
    expect(p.isolation).toEqual({ isolated: false, reason: expect.stringMatching(/disabled/) });
    const own = procStatus('self')!;
    expect(procStatus(w.pid)).toMatchObject({ session: own.session, pgrp: own.pgrp, blocksStopSignals: false });
    const died = new Promise((resolve) => p!.once('workerdied', resolve));
    process.kill(w.pid, 'SIGTERM');
    await died;
  });
});
