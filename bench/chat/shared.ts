/**
 * Types and small helpers shared by the chat benchmark's orchestrator
 * (run.ts), its server children (server-*.ts) and its load generators
 * (generator.ts). Every child talks to the orchestrator over the Node IPC
 * channel only; all network traffic is on 127.0.0.1.
 */
import fs from 'node:fs';

/** `fourcast-2`: two Fourcast nodes sharing one redis-server (cluster mode), viewers and senders split between them. */
export type ServerKind = 'fourcast' | 'fourcast-2' | 'uws' | 'socketio';
/** What a load generator speaks: both Fourcast kinds speak Fourcast's protocol. */
export type ProtocolKind = Exclude<ServerKind, 'fourcast-2'>;

export const ROOM = 'bench';

// ---- orchestrator ↔ server child -------------------------------------------------

export type ToServer = { type: 'gc' } | { type: 'stop' };
export type FromServer =
  | { type: 'ready'; url: string; pid: number; nofile: number; detail?: Record<string, unknown> }
  | { type: 'gcDone'; heapUsed: number }
  | { type: 'fatal'; message: string };

// ---- orchestrator ↔ load generator -------------------------------------------------

export interface SenderSpec {
  /** Full URL the sender connects to (Fourcast: with its publisher token). */
  url: string;
}

export interface ConnectCommand {
  type: 'connect';
  kind: ProtocolKind;
  /** URL for viewers (Fourcast: `?room=bench`, anonymous). */
  url: string;
  receivers: number;
  /** Global index of this generator's first receiver (for sampling). */
  receiverOffset: number;
  /** Receivers whose global index is a multiple of this record latency; all count. */
  sampleEvery: number;
  senders: SenderSpec[];
  /** Connections opened at once; the next batch starts when this one is up. */
  batch: number;
  /** Per-connection budget to open (and, for Fourcast, join). */
  timeoutMs: number;
}

export interface PhaseCommand {
  type: 'phase';
  id: number;
  /** Epoch ms: the window opens (senders start) then. */
  startAt: number;
  durationMs: number;
  /** After the window, deliveries are still counted this long (late but delivered). */
  graceMs: number;
  /** Total messages per second over all senders of this generator (0: receive only). */
  rate: number;
}

export type ToGenerator = ConnectCommand | PhaseCommand | { type: 'stop' };

export interface ConnectResult {
  type: 'connected';
  receivers: number;
  senders: number;
  failed: number;
  errors: Record<string, number>;
  ms: number;
  nofile: number;
}

export interface PhaseResult {
  type: 'phaseResult';
  id: number;
  /** Messages actually handed to the sockets by this generator's senders. */
  sent: number;
  /** Deliveries of this phase's messages to viewers inside the window. */
  viewerInWindow: number;
  /** … up to the end of the grace period. */
  viewerTotal: number;
  /** Deliveries to the senders' own connections (they are room members too). */
  senderTotal: number;
  /** Sampled one-way latencies, ms (send Date.now() → receive Date.now()). */
  latencies: number[];
  /** Error replies to chat sends (Fourcast), by code. */
  sendErrors: Record<string, number>;
  /** Connections that closed during the phase, by close code/reason. */
  closes: Record<string, number>;
  openReceivers: number;
  /** This generator's CPU during the phase, µs (user+system). */
  cpuUs: number;
  /** Event-loop delay p99 during the phase, ms: how busy the generator was. */
  loopDelayP99Ms: number;
}

export type FromGenerator = ConnectResult | PhaseResult | { type: 'fatal'; message: string };

// ---- /proc -----------------------------------------------------------------------

/** Soft limit on open files of this process. */
export function openFileLimit(): number {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
  } catch {
    return Number.NaN;
  }
}

/** The text of a phase marker: receivers count only frames that contain it. */
export function phaseMarker(id: number): string {
  return `~P${id}~`;
}

/** A chat text of about 64 characters carrying the phase, the send time and the sender. */
export function chatText(phase: number, sender: number, n: number): string {
  const head = `bench ${phaseMarker(phase)} T${Date.now()}T S${sender} #${n} `;
  return head.length >= 64 ? head : head + 'lorem ipsum dolor sit amet consectetur adipiscing'.slice(0, 64 - head.length);
}

const tsPattern = /T(\d{10,16})T/;

/** The send time embedded by chatText, or NaN. */
export function sentAt(text: string): number {
  const m = tsPattern.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Sends a message to the parent process; a no-op when the channel is gone. */
export function toParent(msg: FromServer | FromGenerator): void {
  if (process.send && process.connected) process.send(msg);
}

let exitHook: () => void = () => undefined;

/**
 * Leave when the orchestrator goes away, whatever happened to it (even
 * SIGKILL): on the IPC channel's `disconnect`, and, as a fallback, when this
 * process is re-parented. Call it first thing; `onExit` may be set later.
 */
export function exitWithParent(onExit?: () => void): void {
  if (onExit) exitHook = onExit;
  if (process.listenerCount('disconnect') > 0) return;
  const leave = () => {
    try {
      exitHook();
    } finally {
      process.exit(0);
    }
  };
  process.on('disconnect', leave);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent || !process.connected) leave();
  }, 1000).unref();
}
