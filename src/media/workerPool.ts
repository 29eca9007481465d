import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import type { MediaListen } from './addresses.js';
import { ProtocolError } from '../protocol/messages.js';
import { mediaCodecs } from './codecs.js';
import { MEDIA_REQUEST_TIMEOUT_MS, withTimeout } from './timeout.js';
import { createIsolatedWorker, probeWorkerIsolation, procStatus, type WorkerIsolation } from './workerIsolation.js';
import { procCpu } from '../util/procStat.js';

export interface WorkerPoolOptions {
  /** Number of workers (one per core is the usual choice). */
  count: number;
  logLevel: ms.WorkerLogLevel;
  /** Addresses each WebRtcServer binds (UDP and TCP on its port), see `resolveMediaAddresses`. */
  listen: MediaListen[];
  /** Worker i listens on UDP and TCP port `portBase + i`. */
  portBase: number;
  log: Logger;
  /** How often worker CPU and health are sampled for placement (ms). Default 2000. */
  cpuSampleMs?: number;
  /**
   * Share of one core (0..1) above which a worker gets no new rooms or viewers
   * (WORKER_CPU_HEADROOM). Default 0.85: a worker is one thread, and past that its
   * channel answers late and its packets queue.
   */
  cpuHeadroom?: number;
  /**
   * Consecutive health samples a worker may miss (no answer within one sampling period)
   * before it is killed (SIGKILL) and replaced. Default 3 (about 6 s of silence with the
   * default period): a saturated worker still answers about once a second, and a node
   * whose host is overloaded must not kill workers that are only slow. It leaves placement
   * at the first miss.
   */
  unresponsiveSamples?: number;
  /**
   * Samples a worker may leave unanswered while it is busy (its process kept using at least
   * half a core, so it is working, not wedged) before it is killed anyway. Default 30 (about
   * a minute): killing a saturated worker drops every viewer on it, and admission control
   * keeps it from staying saturated; only a worker spinning in a loop should reach this.
   */
  busySamples?: number;
  /**
   * Packets per second a worker may be asked to send (WORKER_MAX_PACKET_RATE): each receiver
   * placed on it reserves `viewerPacketRate`, and a worker whose reservations would pass this
   * takes no new receivers or rooms. Default: no packet budget (CPU headroom only).
   */
  maxPacketRate?: number;
  /** Packets per second one receiver of a full stage is reserved (VIEWER_PACKET_RATE). Default 400. */
  viewerPacketRate?: number;
  /** A placement was refused with `server-busy` (metrics). */
  onServerBusy?: () => void;
  /**
   * Start each worker in a session of its own with SIGINT/SIGTERM blocked, so signals sent to
   * the whole service (Ctrl-C, systemd, `timeout`) reach only Node (see workerIsolation.ts).
   * Default true; used when the system has `setsid` and `env --block-signal`.
   */
  isolate?: boolean;
}

/** Raised when the mediasoup-worker binary is absent or cannot start. */
export class WorkerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerUnavailableError';
  }
}

/**
 * One mediasoup worker with its WebRtcServer and the load figures used for
 * placement. Consumers are counted through mediasoup observers, so the count
 * stays right whoever creates or closes them.
 */
export class MediaWorker {
  consumers = 0;
  routers = 0;
  /** WebRTC transports: counted at creation, before their consumers exist, so bursts of joins spread. */
  transports = 0;
  /**
   * Receivers placed on this worker's routers, of every room (viewers, broadcasters watching
   * their co-hosts, edge nodes' pipes): each reserves a full stage's packet rate from the
   * moment it is placed, before its transport and consumers exist, so a burst of joins cannot
   * overshoot the packet budget while the CPU sample lags.
   */
  viewers = 0;
  /** Share of one core used by the worker process over the last sample (0..1+). */
  cpu = 0;
  /** The worker did not answer its last health sample in time (stopped, or saturated): placement skips it. */
  unresponsive = false;
  /** Health samples missed in a row while the process was not working (stopped, blocked, wedged). */
  missedSamples = 0;
  /** The worker did not answer but its process kept using CPU: saturated, not dead. */
  busy = false;
  /** Health samples missed in a row while busy. */
  busySamples = 0;
  /** Killed for not answering: it is on its way out (its death replaces it), placement never picks it. */
  retired = false;
  private sampling = false;
  private lastCpuUs = 0;
  private lastSampleAt = 0;
  /** CPU seconds of the process as /proc saw them at the previous sample (answered or not). */
  private lastProc: { seconds: number; at: number } | undefined;

  constructor(
    readonly index: number,
    readonly worker: ms.Worker,
    readonly webRtcServer: ms.WebRtcServer,
    readonly port: number,
  ) {
    worker.observer.on('newrouter', (router) => {
      this.routers++;
      router.observer.on('close', () => this.routers--);
      router.observer.on('newtransport', (transport) => {
        if (transport.type === 'webrtc') {
          this.transports++;
          transport.observer.once('close', () => this.transports--);
        }
        transport.observer.on('newconsumer', (consumer) => {
          this.consumers++;
          consumer.observer.on('close', () => this.consumers--);
        });
      });
    });
  }

  get pid(): number {
    return this.worker.pid;
  }

  get closed(): boolean {
    return this.worker.closed;
  }

  /**
   * Placement score: consumers, transports and routers (each room router with its audio
   * observers costs the worker memory and timers even when idle, so a burst of new rooms
   * spreads instead of piling onto one worker), plus CPU to catch hot workers.
   */
  get load(): number {
    return this.consumers + 2 * this.transports + 5 * this.routers + this.cpu * 500;
  }

  /** Whether new rooms and viewers may go to this worker. */
  placeable(cpuHeadroom: number): boolean {
    return !this.closed && !this.retired && !this.unresponsive && this.cpu <= cpuHeadroom;
  }

  /**
   * Samples CPU; a worker that does not answer within `timeoutMs` is marked unresponsive until
   * it answers again, and counted as busy or wedged by what its process did meanwhile.
   */
  async sampleCpu(timeoutMs: number = MEDIA_REQUEST_TIMEOUT_MS): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    let ru: ms.WorkerResourceUsage;
    try {
      ru = await withTimeout(this.worker.getResourceUsage(), timeoutMs, 'getResourceUsage');
      this.unresponsive = false;
      this.busy = false;
      this.missedSamples = 0;
      this.busySamples = 0;
      this.readProc();
    } catch (err) {
      if ((err as { code?: string }).code === 'media-unavailable') {
        this.unresponsive = true;
        this.busy = this.readProc() === 'busy';
        if (this.busy) this.busySamples++;
        else this.missedSamples++;
      }
      throw err;
    } finally {
      this.sampling = false;
    }
    // ru_utime/ru_stime are in milliseconds in mediasoup's ResourceUsage.
    const cpuUs = (ru.ru_utime + ru.ru_stime) * 1000;
    const now = performance.now();
    if (this.lastSampleAt > 0) {
      const wallUs = (now - this.lastSampleAt) * 1000;
      this.cpu = wallUs > 0 ? Math.max(0, (cpuUs - this.lastCpuUs) / wallUs) : 0;
    }
    this.lastCpuUs = cpuUs;
    this.lastSampleAt = now;
  }

  /** Reads the process's CPU time from /proc and says how it spent the time since the last read. */
  private readProc(): ProcessVerdict {
    const proc = procCpu(this.pid);
    const now = performance.now();
    const prev = this.lastProc;
    this.lastProc = proc && { seconds: proc.seconds, at: now };
    if (!proc || !prev) return proc ? processVerdict(proc.state, 0) : 'wedged';
    return processVerdict(proc.state, (proc.seconds - prev.seconds) / Math.max(0.001, (now - prev.at) / 1000));
  }
}

export type ProcessVerdict = 'busy' | 'wedged';

/**
 * Why a worker did not answer, from its process: `busy` when it is runnable and used at least
 * half a core since the last look (saturated, still forwarding), `wedged` otherwise (stopped,
 * a zombie, blocked, or gone). The /proc clock ticks at 10 ms, so half a core over a 2 s
 * sample is a hundred ticks: no rounding turns an idle process into a busy one.
 */
export function processVerdict(state: string, cpuShare: number): ProcessVerdict {
  if (state === 'T' || state === 't' || state === 'Z' || state === 'X') return 'wedged';
  return cpuShare >= 0.5 ? 'busy' : 'wedged';
}

interface WorkerPoolEvents {
  /** A worker process exited unexpectedly; its routers are gone. */
  workerdied: [index: number, error: Error];
  /** A replacement worker is ready at the same index and port. */
  workerreplaced: [worker: MediaWorker];
}

/**
 * The pool of mediasoup workers. Each worker owns one WebRtcServer on its own
 * port, so a deployment opens `count` UDP+TCP ports instead of a port range.
 * A worker that dies is replaced at the same index; rooms listen to
 * `workerdied`/`workerreplaced` to rebuild what they had on it.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly workers: MediaWorker[] = [];
  /** Worker processes that have not exited yet (including closed ones still shutting down). */
  private readonly running = new Set<ms.Worker>();
  private readonly allExited = new EventEmitter();
  private closedFlag = false;
  private cpuTimer: NodeJS.Timeout | undefined;
  private capabilities: ms.RtpCapabilities | undefined;

  private constructor(
    private readonly opts: WorkerPoolOptions,
    /** How the workers are shielded from signals meant for the whole service. */
    readonly isolation: WorkerIsolation,
  ) {
    super();
  }

  static async create(opts: WorkerPoolOptions): Promise<WorkerPool> {
    assertWorkerBinary();
    const isolation: WorkerIsolation = opts.isolate === false ? { isolated: false, reason: 'disabled (isolate: false)' } : probeWorkerIsolation();
    if (!isolation.isolated && opts.isolate !== false) {
      opts.log.warn(
        { reason: isolation.reason },
        'mediasoup workers share the process group of Node: Ctrl-C or a stop signal sent to the whole service closes them at once instead of after the drain',
      );
    }
    const pool = new WorkerPool(opts, isolation);
    try {
      for (let i = 0; i < opts.count; i++) pool.workers.push(await pool.spawn(i));
      // Every router is created from the same codec list, so one throwaway router gives the
      // capabilities every room will have: a room needs no router of its own to tell them.
      const probe = await withTimeout(pool.workers[0]!.worker.createRouter({ mediaCodecs }), MEDIA_REQUEST_TIMEOUT_MS, 'createRouter', (r) => r.close());
      pool.capabilities = probe.rtpCapabilities;
      probe.close();
    } catch (err) {
      pool.close();
      throw err;
    }
    pool.cpuTimer = setInterval(() => void pool.sampleCpu(), opts.cpuSampleMs ?? 2000);
    pool.cpuTimer.unref();
    return pool;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The RTP capabilities of every router of this pool (they share the codec list). */
  get rtpCapabilities(): ms.RtpCapabilities {
    if (!this.capabilities) throw new Error('worker pool is not started');
    return this.capabilities;
  }

  /** Share of one core above which a worker gets no new rooms or viewers. */
  get cpuHeadroom(): number {
    return this.opts.cpuHeadroom ?? 0.85;
  }

  /** Packets per second each placed receiver reserves. */
  get viewerPacketRate(): number {
    return this.opts.viewerPacketRate ?? 400;
  }

  /** Packets per second a worker may be asked to send (Infinity: no packet budget). */
  get maxPacketRate(): number {
    return this.opts.maxPacketRate ?? Infinity;
  }

  /** Receivers a worker takes before its packet budget is spent. */
  get viewersPerWorker(): number {
    return Math.floor(this.maxPacketRate / this.viewerPacketRate);
  }

  /** Share of the packet budget a worker's placed receivers reserve (0 without a budget). */
  budgetUsed(w: MediaWorker): number {
    return Number.isFinite(this.maxPacketRate) ? (w.viewers * this.viewerPacketRate) / this.maxPacketRate : 0;
  }

  /** Whether one more receiver fits this worker's packet budget. */
  hasRoomFor(w: MediaWorker): boolean {
    return w.viewers + 1 <= this.viewersPerWorker;
  }

  /**
   * Workers that may take new rooms and viewers, lightest first: alive, answering their
   * health samples, below the CPU headroom and (unless `overBudget`) with room in their packet
   * budget. Empty when the node is full.
   */
  byLoad({ overBudget = false }: { overBudget?: boolean } = {}): MediaWorker[] {
    return this.workers
      .filter((w) => w.placeable(this.cpuHeadroom) && (overBudget || this.hasRoomFor(w)))
      .sort((a, b) => a.load - b.load || a.index - b.index);
  }

  /** Indexes of live workers that did not answer their last health sample in time (for /ready). */
  unresponsive(): number[] {
    return this.workers.filter((w) => !w.closed && (w.unresponsive || w.retired)).map((w) => w.index);
  }

  /** The lightest placeable worker not in `exclude` (else the lightest placeable one); undefined when none is. */
  leastLoaded(exclude: ReadonlySet<number> = new Set()): MediaWorker | undefined {
    const order = this.byLoad();
    return order.find((w) => !exclude.has(w.index)) ?? order[0];
  }

  /**
   * The worker a new router goes to. A node whose live workers are all past their CPU
   * headroom or not answering refuses at once with `server-busy`; when every worker is
   * down (being replaced), it waits for a replacement up to `waitMs`, then refuses.
   */
  async placement(waitMs: number = MEDIA_REQUEST_TIMEOUT_MS): Promise<MediaWorker> {
    const w = this.leastLoaded();
    if (w) return w;
    const replacing = !this.closedFlag && this.workers.every((x) => x.closed || x.retired);
    if (replacing) {
      const fresh = await new Promise<MediaWorker | undefined>((resolve) => {
        const done = (mw: MediaWorker | undefined) => {
          clearTimeout(timer);
          this.off('workerreplaced', done);
          resolve(mw);
        };
        const timer = setTimeout(() => done(undefined), waitMs);
        timer.unref();
        this.on('workerreplaced', done);
      });
      if (fresh?.placeable(this.cpuHeadroom)) return fresh;
    }
    throw this.busy();
  }

  /** The typed refusal of a full node (counted once per refusal). */
  busy(): ProtocolError {
    this.opts.onServerBusy?.();
    return new ProtocolError('server-busy', 'this server is at capacity right now; try again in a minute');
  }

  get(index: number): MediaWorker | undefined {
    const w = this.workers[index];
    return w && !w.closed ? w : undefined;
  }

  async sampleCpu(): Promise<void> {
    // A health answer slower than one sampling period marks the worker unresponsive.
    const timeoutMs = Math.min(MEDIA_REQUEST_TIMEOUT_MS, this.opts.cpuSampleMs ?? 2000);
    const live = this.workers.filter((w) => !w.closed && !w.retired);
    await Promise.all(live.map((w) => w.sampleCpu(timeoutMs).catch(() => undefined)));
    const limit = this.opts.unresponsiveSamples ?? 3;
    const busyLimit = this.opts.busySamples ?? 30;
    for (const w of live) {
      if (w.closed || w.retired) continue;
      if (w.missedSamples >= limit || w.busySamples >= busyLimit) this.retire(w);
      else if (w.busy && w.busySamples === 1) this.opts.log.warn({ worker: w.index, pid: w.pid, viewers: w.viewers }, 'mediasoup worker is saturated (using its core, answering late): it takes nothing new until it answers');
    }
  }

  /**
   * Kills a worker that stopped answering: mediasoup sees its process die and reports it
   * (`died`), which replaces it at the same index and tells rooms (`routerlost`), exactly
   * as for a crash. SIGKILL, because a stopped or wedged worker never handles anything
   * else (and isolated workers block SIGTERM); the pid is the worker's own (setsid execs).
   */
  private retire(w: MediaWorker): void {
    if (this.closedFlag) return;
    w.retired = true;
    this.opts.log.error({ worker: w.index, pid: w.pid, missedSamples: w.missedSamples, busySamples: w.busySamples }, 'mediasoup worker stopped answering; killing it to replace it');
    try {
      process.kill(w.pid, 'SIGKILL');
    } catch {
      /* already gone: its death is being reported */
    }
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearInterval(this.cpuTimer);
    for (const w of this.workers) {
      w.worker.close();
      // A worker that does not answer would not act on the close either: do not wait for it.
      if (w.unresponsive || w.retired) {
        try {
          process.kill(w.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  /**
   * Resolves once every worker process this pool started has exited (true). One still
   * running after `timeoutMs` is killed (SIGKILL) and the promise resolves false, so a
   * node never leaves a worker behind. After `close()`, a worker exits as soon as it sees
   * its channel close (a few hundred ms).
   */
  exited(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onEmpty = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.allExited.off('empty', onEmpty);
        const pids = this.runningPids;
        if (pids.length === 0) return resolve(true);
        this.opts.log.warn({ pids, timeoutMs }, 'mediasoup workers still running after close; killing them');
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        resolve(false);
      }, timeoutMs);
      this.allExited.once('empty', onEmpty);
    });
  }

  /** Pids of the worker processes that have not exited yet. */
  get runningPids(): number[] {
    return [...this.running].map((w) => w.pid);
  }

  private async spawn(index: number): Promise<MediaWorker> {
    const { log } = this.opts;
    const port = this.opts.portBase + index;
    let worker: ms.Worker;
    try {
      worker = await createIsolatedWorker({ logLevel: this.opts.logLevel, appData: { index } }, this.isolation);
    } catch (err) {
      throw new WorkerUnavailableError(
        `mediasoup worker ${index} did not start (${(err as Error).message}). ` +
          `Binary: ${mediasoup.workerBin}. Run 'bash scripts/setup.sh' to build or fetch it.`,
      );
    }
    this.track(worker);
    let webRtcServer: ms.WebRtcServer;
    try {
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: this.opts.listen.flatMap(({ ip, announcedAddress }) =>
          (['udp', 'tcp'] as const).map((protocol) => ({ protocol, ip, port, ...(announcedAddress ? { announcedAddress } : {}) })),
        ),
      });
    } catch (err) {
      worker.close();
      throw new WorkerUnavailableError(
        `mediasoup worker ${index} could not listen on ${this.opts.listen.map((l) => l.ip).join(', ')} port ${port} UDP+TCP (${(err as Error).message}). ` +
          `Free the port or change RTC_PORT_BASE / RTC_LISTEN_IP.`,
      );
    }
    const mw = new MediaWorker(index, worker, webRtcServer, port);
    worker.on('died', (error) => this.onDied(mw, error));
    let isolated = false;
    if (this.isolation.isolated) {
      const st = procStatus(worker.pid);
      isolated = st !== undefined && st.session === worker.pid && st.blocksStopSignals;
      if (!isolated) log.warn({ worker: index, pid: worker.pid, status: st }, 'mediasoup worker is not isolated from signals sent to the whole service');
    }
    // Whether this worker batches its sends through io_uring (compiled in, and the kernel allows it).
    const ioUring = await worker.dump().then(
      (d) => d.liburing !== undefined,
      () => undefined,
    );
    log.info({ worker: index, pid: worker.pid, port, isolated, ioUring }, 'mediasoup worker ready');
    return mw;
  }

  private track(worker: ms.Worker): void {
    if (worker.subprocessClosed) return;
    this.running.add(worker);
    worker.once('subprocessclose', () => {
      this.running.delete(worker);
      if (this.running.size === 0) this.allExited.emit('empty');
    });
  }

  private onDied(mw: MediaWorker, error: Error): void {
    if (this.closedFlag) return;
    this.opts.log.error({ worker: mw.index, pid: mw.pid, err: error }, 'mediasoup worker died; replacing it');
    this.emit('workerdied', mw.index, error);
    void this.replace(mw.index, 1);
  }

  private async replace(index: number, attempt: number): Promise<void> {
    if (this.closedFlag) return;
    try {
      const fresh = await this.spawn(index);
      if (this.closedFlag) {
        fresh.worker.close();
        return;
      }
      this.workers[index] = fresh;
      this.emit('workerreplaced', fresh);
    } catch (err) {
      // The dead worker's port may linger for a moment; retry with backoff.
      const delay = Math.min(5000, 100 * 2 ** attempt);
      this.opts.log.warn({ worker: index, attempt, err }, `worker replacement failed; retrying in ${delay} ms`);
      setTimeout(() => void this.replace(index, attempt + 1), delay).unref();
    }
  }
}

/** Fails fast, with the fix, when the worker binary is missing or not executable. */
export function assertWorkerBinary(bin: string = mediasoup.workerBin): void {
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new WorkerUnavailableError(
      `mediasoup-worker binary not found or not executable at ${bin}. ` +
        `Run 'bash scripts/setup.sh' (it fetches or builds the worker and caches it), ` +
        `or point MEDIASOUP_WORKER_BIN at a working binary.`,
    );
  }
}
