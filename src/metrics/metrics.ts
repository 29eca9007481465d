import type { types as ms } from 'mediasoup';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MediaWorker, WorkerPool } from '../media/workerPool.js';
import { callEndReasons, errorCodes, invitationStates } from '../protocol/messages.js';
import type { InvitationOutcome } from '../rooms/invitations.js';
import type { RoomManager } from '../rooms/roomManager.js';
import type { RoomSnapshot } from '../rooms/snapshot.js';
import type { TurnOutcome, TurnProviderName } from '../turn/types.js';
import { failureReasons, type FailureReason } from '../recording/segment.js';
import { sessionEndReasons, type SessionEndReason } from '../whip/mediaSession.js';

/** The live objects read at scrape time. */
export interface MetricSources {
  pool: WorkerPool;
  rooms: RoomManager;
  /** WHIP and WHEP sessions open on this node. */
  mediaSessions?: { count(protocol: 'whip' | 'whep'): number };
  /** Room recordings of this node. */
  recordings?: { readonly counts: { recordings: number; segments: number } };
}

type Labels<L extends string> = Partial<Record<L, string>>;
type Sample<L extends string> = [labels: Labels<L>, value: number];
type WorkerUsage = { worker: string; ru: ms.WorkerResourceUsage };

const turnProviders: readonly TurnProviderName[] = ['twilio', 'coturn', 'stun'];
const turnOutcomes: readonly TurnOutcome[] = ['ok', 'cached', 'error', 'timeout'];

/** Join → first frame spans a LAN tab (0.1 s) to a bad mobile link with TURN fallback (30 s). */
export const firstFrameBuckets = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30];

/** A worker that does not answer getResourceUsage in time is left out of that scrape rather than stall it. */
const RESOURCE_USAGE_TIMEOUT_MS = 1000;

/**
 * Caps the values one label may take. Values outside `known` are kept while
 * they look like identifiers and fewer than `maxExtra` have been seen; the
 * rest become "other", so a caller passing free text cannot grow the series.
 */
class BoundedLabel {
  private readonly seen: Set<string>;
  private extra = 0;

  constructor(
    known: readonly string[],
    private readonly maxExtra: number,
  ) {
    this.seen = new Set(known);
  }

  value(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.extra >= this.maxExtra || !/^[a-z][a-z0-9_-]{0,31}$/.test(v)) return 'other';
    this.extra++;
    this.seen.add(v);
    return v;
  }
}

const invitationOutcomes: readonly InvitationOutcome[] = ['sent', 'stage-full', ...invitationStates.filter((s) => s !== 'pending')];
type CallOutcome = (typeof callOutcomes)[number];
const callOutcomes = ['placed', 'accepted', ...callEndReasons] as const;

/** The limits counted in fourcast_limit_refusals_total. */
export const limitNames = [
  'ws-connections-per-address',
  'rooms-per-address',
  'rooms-total',
  'transports-per-peer',
  'producers-per-peer',
  'consumers-per-peer',
  'server-busy',
] as const;
export type LimitName = (typeof limitNames)[number];

/**
 * Fourcast's Prometheus metrics on a registry of their own (never the global
 * one, so several nodes or tests in one process do not collide). Events the
 * app sees are pushed through the methods below; state (rooms, peers, media
 * objects, workers) is read from the live objects at scrape time, so there is
 * no second bookkeeping that could drift from the truth.
 */
export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources | undefined;
  private usageInFlight: Promise<WorkerUsage[]> | undefined;

  private readonly chatMessages: Counter<'direction'>;
  private readonly chatDrops: Counter<'reason'>;
  private readonly wsConnections: Gauge;
  private readonly wsBackpressureDrops: Counter;
  private readonly wsMaxBuffered: Gauge;
  private readonly firstFrameSeconds: Histogram;
  private readonly turnRequests: Counter<'provider' | 'outcome'>;
  private readonly workerDeaths: Counter;
  private readonly protocolErrors: Counter<'code'>;
  private readonly limitRefusals: Counter<'limit'>;
  private readonly invitations: Counter<'outcome'>;
  private readonly calls: Counter<'outcome'>;
  private readonly recordingFailures: Counter<'reason'>;
  private readonly whipRequests: Counter<'protocol' | 'method' | 'status'>;
  private readonly whipEnded: Counter<'protocol' | 'reason'>;
  /** Why the server refuses chat lines (protocol error codes); other reasons are bounded. */
  private readonly dropReasons = new BoundedLabel(['rate-limited', 'too-large'], 16);
  private readonly errorCodeLabel = new BoundedLabel(errorCodes, 0);

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // These three gauges are sum() of their labelled twins (nodejs_active_handles{type} …), and
    // a gauge named *_total breaks the naming convention (`promtool check metrics` flags it).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }

    // ---- pushed by the app ----------------------------------------------------
    this.chatMessages = new Counter({
      name: 'fourcast_chat_messages_total',
      help: 'Chat messages: received from peers (in) and delivered to peers (out).',
      labelNames: ['direction'],
      registers,
    });
    this.chatDrops = new Counter({
      name: 'fourcast_chat_messages_dropped_total',
      help: 'Chat messages refused or not delivered, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.wsConnections = new Gauge({
      name: 'fourcast_ws_connections',
      help: 'Open signaling WebSocket connections.',
      registers,
    });
    this.wsBackpressureDrops = new Counter({
      name: 'fourcast_ws_backpressure_drops_total',
      help: 'Clients dropped because their WebSocket send buffer passed WS_MAX_BUFFER_BYTES.',
      registers,
    });
    this.wsMaxBuffered = new Gauge({
      name: 'fourcast_ws_max_buffered_bytes',
      help: 'Largest unsent WebSocket buffer of any client at the last check (bounded by 2 × WS_MAX_BUFFER_BYTES).',
      registers,
    });
    this.firstFrameSeconds = new Histogram({
      name: 'fourcast_join_to_first_frame_seconds',
      help: 'Client-measured time from join to the first decoded video frame.',
      buckets: firstFrameBuckets,
      registers,
    });
    this.turnRequests = new Counter({
      name: 'fourcast_turn_requests_total',
      help: 'TURN credential attempts, by provider and outcome.',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.workerDeaths = new Counter({
      name: 'fourcast_worker_deaths_total',
      help: 'mediasoup worker processes that died unexpectedly.',
      registers,
    });
    this.protocolErrors = new Counter({
      name: 'fourcast_protocol_errors_total',
      help: 'Error responses sent to signaling clients, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.limitRefusals = new Counter({
      name: 'fourcast_limit_refusals_total',
      help: 'Requests refused because a per-address or node-wide limit bit, by limit.',
      labelNames: ['limit'],
      registers,
    });
    this.invitations = new Counter({
      name: 'fourcast_stage_invitations_total',
      help: 'Invitations to the stage: sent, and how each ended (accepted, declined, withdrawn, expired, left); stage-full counts accepts refused for want of a slot.',
      labelNames: ['outcome'],
      registers,
    });
    this.calls = new Counter({
      name: 'fourcast_calls_total',
      help: 'Private calls: placed, accepted, and how each ended (declined, hung-up, no-answer, disconnected, ended-by-admin, media-failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.whipRequests = new Counter({
      name: 'fourcast_whip_requests_total',
      help: 'WHIP and WHEP HTTP requests (POST creates a session, PATCH trickles or restarts ICE, DELETE ends it), by protocol, method and response status.',
      labelNames: ['protocol', 'method', 'status'],
      registers,
    });
    this.whipEnded = new Counter({
      name: 'fourcast_whip_sessions_ended_total',
      help: 'WHIP and WHEP sessions that ended, by protocol and reason (deleted, replaced, disconnected, ice-timeout, dtls-failed, removed, room-closed, shutdown, failed).',
      labelNames: ['protocol', 'reason'],
      registers,
    });
    this.recordingFailures = new Counter({
      name: 'fourcast_recording_failures_total',
      help: 'Recording segments that failed, by reason (encoder-died, disk-full, start-failed); the live stage is not affected.',
      labelNames: ['reason'],
      registers,
    });
    // Series that exist from the start make rate() and absent-series alerts behave.
    for (const reason of failureReasons) this.recordingFailures.inc({ reason }, 0);
    for (const protocol of ['whip', 'whep']) for (const reason of sessionEndReasons) this.whipEnded.inc({ protocol, reason }, 0);
    for (const outcome of invitationOutcomes) this.invitations.inc({ outcome }, 0);
    for (const outcome of callOutcomes) this.calls.inc({ outcome }, 0);
    for (const limit of limitNames) this.limitRefusals.inc({ limit }, 0);
    for (const direction of ['in', 'out']) this.chatMessages.inc({ direction }, 0);
    for (const provider of turnProviders) for (const outcome of turnOutcomes) this.turnRequests.inc({ provider, outcome }, 0);
    for (const code of errorCodes) this.protocolErrors.inc({ code }, 0);
    for (const reason of ['rate-limited', 'too-large']) this.chatDrops.inc({ reason }, 0);

    // ---- read from live objects at scrape time ---------------------------------
    this.live('fourcast_whip_sessions', 'Open WHIP (broadcaster) and WHEP (player) sessions.', ['protocol'], (s) =>
      (['whip', 'whep'] as const).map((protocol) => [{ protocol }, s.mediaSessions?.count(protocol) ?? 0]),
    );
    this.live('fourcast_rooms', 'Open rooms.', [], (s) => [[{}, openRooms(s).length]]);
    this.live('fourcast_recordings', 'Rooms being recorded.', [], (s) => [[{}, s.recordings?.counts.recordings ?? 0]]);
    this.live('fourcast_recording_segments', 'Recording segments writing a file now (one per broadcaster on a recorded stage).', [], (s) => [[{}, s.recordings?.counts.segments ?? 0]]);
    this.live('fourcast_peers', 'Peers in rooms: publisher = on stage, viewer = everyone else.', ['role'], (s) => {
      let publishers = 0;
      let viewers = 0;
      for (const room of snapshots(s)) {
        publishers += room.publishers.length;
        viewers += room.viewers;
      }
      return [
        [{ role: 'publisher' }, publishers],
        [{ role: 'viewer' }, viewers],
      ];
    });
    this.live('fourcast_publishers', 'Peers on stage, all rooms (relayed broadcasters of other nodes included).', [], (s) => [[{}, sum(snapshots(s), (r) => r.publishers.length)]]);
    this.live('fourcast_relayed_publishers', 'Cluster mode: broadcasters of other nodes relayed onto this node\'s stages through pipes.', [], (s) => [
      [{}, sum(snapshots(s), (r) => r.publishers.filter((p) => p.relay).length)],
    ]);
    this.live('fourcast_stage_guests', 'Viewers on stage as guests (they accepted an invitation).', [], (s) => [[{}, sum(snapshots(s), (r) => r.stage.guests)]]);
    this.live('fourcast_stage_hands_raised', 'Viewers with a hand raised to go on stage.', [], (s) => [[{}, sum(snapshots(s), (r) => r.stage.hands)]]);
    this.live('fourcast_stage_invitations_open', 'Invitations to the stage waiting for an answer.', [], (s) => [[{}, sum(snapshots(s), (r) => r.stage.invitations)]]);
    this.live('fourcast_calls', 'Private calls of this node, by state (ringing, active).', ['state'], (s) => {
      const rooms = snapshots(s);
      return [
        [{ state: 'ringing' }, sum(rooms, (r) => r.calls.ringing)],
        [{ state: 'active' }, sum(rooms, (r) => r.calls.active)],
      ];
    });
    this.live('fourcast_producers', 'Open mediasoup producers of publishers, by kind.', ['kind'], (s) => {
      const rooms = snapshots(s);
      return [
        [{ kind: 'audio' }, sum(rooms, (r) => r.producers.audio)],
        [{ kind: 'video' }, sum(rooms, (r) => r.producers.video)],
      ];
    });
    this.live('fourcast_consumers', 'Open mediasoup consumers, per worker.', ['worker'], (s) => perWorker(s, (w) => w.consumers));
    this.live('fourcast_routers', 'Open mediasoup routers, per worker.', ['worker'], (s) => perWorker(s, (w) => w.routers));
    this.live('fourcast_fanout_routers', 'Routers fed by pipeToRouter: the routers of each room minus its origin.', [], (s) => [
      [{}, sum(snapshots(s), (r) => Math.max(0, r.routers.length - 1))],
    ]);
    this.live('fourcast_worker_cpu_ratio', 'CPU used by a mediasoup worker over the last sample, as a share of one core.', ['worker'], (s) =>
      perWorker(s, (w) => (w.closed ? 0 : w.cpu)),
    );
    this.live('fourcast_worker_viewers', 'Receivers placed on a mediasoup worker (viewers, broadcasters watching co-hosts, edge pipes); each reserves VIEWER_PACKET_RATE.', ['worker'], (s) =>
      perWorker(s, (w) => (w.closed ? 0 : w.viewers)),
    );
    this.live('fourcast_worker_packet_budget_ratio', 'Share of WORKER_MAX_PACKET_RATE reserved by the receivers placed on a mediasoup worker; at 1 it takes no new viewers.', ['worker'], (s) =>
      perWorker(s, (w) => (w.closed ? 0 : s.pool.budgetUsed(w))),
    );
    this.live('fourcast_worker_busy', '1 while a mediasoup worker misses its health samples but keeps using its core (saturated, not wedged).', ['worker'], (s) =>
      perWorker(s, (w) => (w.busy && !w.closed ? 1 : 0)),
    );
    this.live('fourcast_worker_up', '1 while the mediasoup worker at this index is running.', ['worker'], (s) => perWorker(s, (w) => (w.closed ? 0 : 1)));

    // One getResourceUsage round trip per worker feeds both metrics; each awaits the shared result
    // before touching its values, so a scrape never shows a half-filled or stale metric.
    const cpuSeconds: Counter<'worker' | 'mode'> = new Counter({
      name: 'fourcast_worker_cpu_seconds_total',
      help: 'CPU time of the current mediasoup worker process at this index (resets when the worker is replaced).',
      labelNames: ['worker', 'mode'],
      registers,
      collect: async () => {
        const usage = await this.workerUsage();
        cpuSeconds.reset();
        for (const { worker, ru } of usage) {
          // mediasoup reports ru_utime/ru_stime in milliseconds.
          cpuSeconds.inc({ worker, mode: 'user' }, ru.ru_utime / 1000);
          cpuSeconds.inc({ worker, mode: 'system' }, ru.ru_stime / 1000);
        }
      },
    });
    const maxRss: Gauge<'worker'> = new Gauge({
      name: 'fourcast_worker_max_resident_memory_bytes',
      help: 'Peak resident memory of the current mediasoup worker process at this index.',
      labelNames: ['worker'],
      registers,
      collect: async () => {
        const usage = await this.workerUsage();
        maxRss.reset();
        // getrusage on Linux reports ru_maxrss in KiB.
        for (const { worker, ru } of usage) maxRss.set({ worker }, ru.ru_maxrss * 1024);
      },
    });
  }

  /** Content-Type of `text()`: Prometheus text exposition 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Starts reading rooms, peers and workers from these objects at every scrape. */
  /**
   * Cluster mode: every series carries `node="<node id>"` (the id /admin/cluster lists), so
   * one Prometheus scraping every node can tell them apart and sum across them.
   */
  labelNode(nodeId: string): void {
    this.registry.setDefaultLabels({ node: nodeId });
  }

  attach(sources: MetricSources): void {
    this.sources = sources;
  }

  /** The exposition text for `GET /metrics`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  chatMessage(direction: 'in' | 'out', n = 1): void {
    if (n > 0 && Number.isFinite(n)) this.chatMessages.inc({ direction }, n);
  }

  /** `reason` should be a short constant such as "rate-limited"; free text is folded into "other". */
  chatDropped(reason: string): void {
    this.chatDrops.inc({ reason: this.dropReasons.value(reason) });
  }

  wsConnection(delta: 1 | -1): void {
    this.wsConnections.inc(delta);
  }

  wsBackpressureDrop(): void {
    this.wsBackpressureDrops.inc();
  }

  wsMaxBufferedBytes(bytes: number): void {
    if (Number.isFinite(bytes) && bytes >= 0) this.wsMaxBuffered.set(bytes);
  }

  /** Client-reported, so nonsense (negative, NaN) is ignored rather than thrown at the caller. */
  firstFrame(seconds: number): void {
    if (seconds >= 0 && Number.isFinite(seconds)) this.firstFrameSeconds.observe(seconds);
  }

  /** Same signature as TurnService's `onOutcome` hook. */
  turnOutcome(provider: TurnProviderName, outcome: TurnOutcome): void {
    this.turnRequests.inc({ provider, outcome });
  }

  workerDeath(): void {
    this.workerDeaths.inc();
  }

  /** A limit refused something (a connection, a room). */
  limitRefused(limit: LimitName): void {
    this.limitRefusals.inc({ limit });
  }

  invitation(outcome: InvitationOutcome): void {
    this.invitations.inc({ outcome });
  }

  call(outcome: CallOutcome): void {
    this.calls.inc({ outcome });
  }

  /** Statuses are a bounded set (Fastify and the WHIP routes answer a fixed few). */
  whipRequest(protocol: 'whip' | 'whep', method: string, status: number): void {
    this.whipRequests.inc({ protocol, method, status: String(status) });
  }

  whipSessionEnded(protocol: 'whip' | 'whep', reason: SessionEndReason): void {
    this.whipEnded.inc({ protocol, reason });
  }

  recordingFailure(reason: FailureReason): void {
    this.recordingFailures.inc({ reason });
  }

  /** Codes outside the protocol's ErrorCode list are counted as "other". */
  protocolError(code: string): void {
    this.protocolErrors.inc({ code: this.errorCodeLabel.value(code) });
  }

  /** A gauge whose samples are recomputed from the attached sources at each scrape. */
  private live<L extends string>(name: string, help: string, labelNames: readonly L[], read: (s: MetricSources) => Sample<L>[]): void {
    const gauge: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        gauge.reset();
        // Not attached yet: labelled gauges show no series (unknown), unlabelled ones 0.
        if (!this.sources) return;
        for (const [labels, value] of read(this.sources)) gauge.set(labels, value);
      },
    });
  }

  /** Resource usage of every live worker, shared by the collects of one scrape. */
  private workerUsage(): Promise<WorkerUsage[]> {
    if (!this.sources) return Promise.resolve([]);
    this.usageInFlight ??= resourceUsage(this.sources.pool).finally(() => {
      this.usageInFlight = undefined;
    });
    return this.usageInFlight;
  }
}

function openRooms(s: MetricSources) {
  return [...s.rooms.rooms.values()].filter((r) => !r.closed);
}

/** Each open room as its snapshot, without participants: what a scrape needs and nothing more. */
function snapshots(s: MetricSources): RoomSnapshot[] {
  return openRooms(s).map((r) => r.describe({ participants: false }));
}

function sum<T>(items: readonly T[], f: (t: T) => number): number {
  return items.reduce((acc, t) => acc + f(t), 0);
}

/** One sample per worker slot; the label is the slot index, stable across worker replacement. */
function perWorker(s: MetricSources, f: (w: MediaWorker) => number): Sample<'worker'>[] {
  return s.pool.workers.map((w) => [{ worker: String(w.index) }, f(w)]);
}

async function resourceUsage(pool: WorkerPool): Promise<WorkerUsage[]> {
  const live = pool.workers.filter((w) => !w.closed);
  const results = await Promise.all(
    live.map(async (w) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), RESOURCE_USAGE_TIMEOUT_MS);
      });
      try {
        const ru = await Promise.race([w.worker.getResourceUsage(), timeout]);
        return ru && { worker: String(w.index), ru };
      } catch {
        // The worker died between the filter and the request: it has no usage to report.
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return results.filter((r): r is WorkerUsage => r !== undefined);
}
