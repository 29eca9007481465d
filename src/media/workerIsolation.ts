import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';

/**
 * Keeps signals meant for the service away from its mediasoup workers, so that only
 * the Node process decides when they end.
 *
 * Ctrl-C, a closing terminal and `timeout` signal the whole foreground process group;
 * systemd's default `KillMode=control-group` signals every process of the unit. A
 * mediasoup-worker handles SIGINT and SIGTERM itself (it closes), so without this a drain
 * starts with every worker "dying" and being replaced. Each worker is therefore started as
 *
 *     setsid env --block-signal=INT,TERM <mediasoup-worker> <args>
 *
 * util-linux `setsid` puts it in a session (and process group) of its own: it only forks
 * when the caller leads a process group, which a child Node spawns without `detached`
 * never does, so it calls setsid() and execs. coreutils `env --block-signal` blocks SIGINT
 * and SIGTERM and execs; the blocked mask survives exec, and the worker's libuv signal
 * watchers never unblock it, so those signals stay pending and harmless. Both exec in
 * place, so the pid mediasoup records is the worker's own (process.kill, getResourceUsage,
 * /proc all see the real binary), and `mediasoup.workerBin` still names the real binary.
 *
 * The worker still ends when Node decides: `worker.close()` closes its channel pipes and
 * a mediasoup-worker closes itself when its channel closes ("channel remotely closed,
 * closing myself", worker/src/Worker.cpp), which also ends it when Node dies (even by
 * SIGKILL). SIGKILL still kills it. SIGHUP it ignores by itself.
 *
 * mediasoup 3.15.8 takes no binary option in `createWorker` and reads MEDIASOUP_WORKER_BIN
 * once, at module load; what it does read at every spawn is its debugging hook
 * MEDIASOUP_USE_VALGRIND / MEDIASOUP_VALGRIND_BIN / MEDIASOUP_VALGRIND_OPTIONS (spawn
 * `<VALGRIND_BIN> <OPTIONS split on spaces> <workerBin> <args>`). `createIsolatedWorker`
 * sets those for the synchronous part of `createWorker` (where the process is spawned)
 * and restores them before returning.
 */

const BLOCKED = ['INT', 'TERM'] as const;
/** SigBlk bits of SIGINT (2) and SIGTERM (15) in /proc/<pid>/status. */
const BLOCKED_MASK = (1n << 1n) | (1n << 14n);
const HOOK_VARS = ['MEDIASOUP_USE_VALGRIND', 'MEDIASOUP_VALGRIND_BIN', 'MEDIASOUP_VALGRIND_OPTIONS'] as const;

export type WorkerIsolation =
  | { isolated: true; setsid: string; env: string }
  | {
      isolated: false;
      /** Why the workers share Node's process group and take its signals. */
      reason: string;
    };

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/bin'])) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface ProcStatus {
  /** Session id and process group of the process. */
  session: number;
  pgrp: number;
  /** Whether SIGINT and SIGTERM are blocked (in every thread). */
  blocksStopSignals: boolean;
}

/** Reads /proc/<pid>/stat and /proc/<pid>/status (Linux); undefined when unreadable. */
export function procStatus(pid: number | 'self'): ProcStatus | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tasks = fs.readdirSync(`/proc/${pid}/task`);
    const blocksStopSignals = tasks.every((tid) => {
      const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const m = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status);
      return m !== null && (BigInt(`0x${m[1]}`) & BLOCKED_MASK) === BLOCKED_MASK;
    });
    return { pgrp: Number(f[2]), session: Number(f[3]), blocksStopSignals };
  } catch {
    return undefined;
  }
}

/** What `probe` found, per process (the answer does not change while it runs). */
let cached: WorkerIsolation | undefined;

/**
 * Finds `setsid` and `env` and proves, once, on a throwaway process, that the pair execs in
 * place into a new session with SIGINT/SIGTERM blocked. Without them (another OS, busybox
 * without `env --block-signal`) the workers start as mediasoup starts them, and the reason says so.
 */
export function probeWorkerIsolation(): WorkerIsolation {
  if (cached) return cached;
  cached = probe();
  return cached;
}

function probe(): WorkerIsolation {
  if (process.env.MEDIASOUP_USE_VALGRIND === 'true') return { isolated: false, reason: 'MEDIASOUP_USE_VALGRIND=true is set (mediasoup runs the worker under valgrind)' };
  const setsid = onPath('setsid');
  const env = onPath('env');
  if (!setsid || !env) return { isolated: false, reason: `${!setsid ? 'setsid (util-linux)' : 'env (coreutils)'} not found on PATH` };
  if (/\s/.test(env)) return { isolated: false, reason: `the path of env contains whitespace: ${env}` };
  // The same chain with `cat` in the worker's place: it prints its own pid, session, group and mask.
  const cat = onPath('cat') ?? 'cat';
  const run = spawnSync(setsid, [env, `--block-signal=${BLOCKED.join(',')}`, cat, '/proc/self/stat', '/proc/self/status'], { encoding: 'utf8', timeout: 5000 });
  if (run.error || run.status !== 0) return { isolated: false, reason: `'${setsid} ${env} --block-signal=… cat' failed (${run.error?.message ?? (run.stderr.trim() || `exit ${run.status}`)})` };
  const out = run.stdout;
  const stat = out.split('\n')[0] ?? '';
  const selfPid = Number(stat.split(' ')[0]);
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const blk = /^SigBlk:\s*([0-9a-f]+)$/m.exec(out);
  if (selfPid !== run.pid) return { isolated: false, reason: `setsid forked (pid ${selfPid}, spawned ${run.pid}), so the pid mediasoup records would not be the worker's` };
  if (Number(f[3]) !== selfPid) return { isolated: false, reason: 'setsid did not start a new session' };
  if (!blk || (BigInt(`0x${blk[1]}`) & BLOCKED_MASK) !== BLOCKED_MASK) return { isolated: false, reason: 'env --block-signal did not block SIGINT/SIGTERM' };
  return { isolated: true, setsid, env };
}

/**
 * `mediasoup.createWorker(settings)`, with the worker started through `isolation` when it is
 * isolated. The process is spawned synchronously inside `createWorker` (before its first
 * `await`), so the hook variables are set only for that moment.
 */
export function createIsolatedWorker(settings: ms.WorkerSettings, isolation: WorkerIsolation): Promise<ms.Worker> {
  if (!isolation.isolated) return mediasoup.createWorker(settings);
  const saved = HOOK_VARS.map((k) => [k, process.env[k]] as const);
  process.env.MEDIASOUP_USE_VALGRIND = 'true';
  process.env.MEDIASOUP_VALGRIND_BIN = isolation.setsid;
  process.env.MEDIASOUP_VALGRIND_OPTIONS = `${isolation.env} --block-signal=${BLOCKED.join(',')}`;
  try {
    return mediasoup.createWorker(settings);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
