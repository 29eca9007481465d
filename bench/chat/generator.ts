/**
 * Child process: a load generator. It holds its share of the room's viewers
 * (and, for generator 0, the senders), opens them in batches, then on each
 * `phase` command sends at the given fixed rate for the window and counts
 * what arrives. Every viewer counts deliveries; every `sampleEvery`-th one
 * also records latency, so the generator stays light.
 *
 * Fourcast and the bare uWS server are driven with the `ws` package,
 * socket.io with `socket.io-client` over the websocket transport only.
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { io as ioClient, type Socket } from 'socket.io-client';
import {
  chatText,
  exitWithParent,
  openFileLimit,
  phaseMarker,
  sentAt,
  toParent,
  type ConnectCommand,
  type PhaseCommand,
  type PhaseResult,
  type ProtocolKind,
  type ToGenerator,
} from './shared.js';

/** Latency samples kept per phase (bounded memory). */
const MAX_SAMPLES = 400_000;

interface Phase {
  id: number;
  marker: Buffer;
  markerText: string;
  windowEnd: number;
  graceEnd: number;
  sent: number;
  viewerInWindow: number;
  viewerTotal: number;
  senderTotal: number;
  latencies: Float64Array;
  nLat: number;
  sendErrors: Record<string, number>;
  closes: Record<string, number>;
}

let phase: Phase | undefined;
let openReceivers = 0;
const sockets: { close(): void }[] = [];

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function countClose(key: string): void {
  if (phase) bump(phase.closes, key);
}

// ---- receiving ---------------------------------------------------------------------

function onViewerFrame(buf: Buffer, sampled: boolean): void {
  const p = phase;
  if (!p || buf.indexOf(p.marker) === -1) return;
  const now = Date.now();
  if (now > p.graceEnd) return;
  p.viewerTotal++;
  if (now <= p.windowEnd) p.viewerInWindow++;
  if (sampled && p.nLat < MAX_SAMPLES) {
    const t = sentAt(buf.toString('latin1'));
    if (Number.isFinite(t)) p.latencies[p.nLat++] = now - t;
  }
}

function onViewerText(text: string, sampled: boolean): void {
  const p = phase;
  if (!p || !text.includes(p.markerText)) return;
  const now = Date.now();
  if (now > p.graceEnd) return;
  p.viewerTotal++;
  if (now <= p.windowEnd) p.viewerInWindow++;
  if (sampled && p.nLat < MAX_SAMPLES) {
    const t = sentAt(text);
    if (Number.isFinite(t)) p.latencies[p.nLat++] = now - t;
  }
}

function onSenderDelivery(contains: boolean): void {
  const p = phase;
  if (p && contains && Date.now() <= p.graceEnd) p.senderTotal++;
}

// ---- connections -------------------------------------------------------------------

interface Sender {
  send(phaseId: number, n: number): void;
}

const responsePrefix = Buffer.from('{"type":"response"');

/** Opens a `ws` connection; for Fourcast it also joins. Resolves with the socket once usable. */
function openWs(kind: ProtocolKind, url: string, name: string, timeoutMs: number, onFrame: (buf: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    let settled = false;
    const timer = setTimeout(() => finish(new Error('timeout')), timeoutMs);
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        ws.terminate();
        reject(err);
      } else resolve(ws);
    };
    ws.on('error', (err) => finish(new Error(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    ws.on('unexpected-response', (_req, res) => finish(new Error(`http ${res.statusCode}`)));
    ws.on('close', (code) => finish(new Error(`closed ${code}`)));
    ws.on('open', () => {
      if (kind !== 'fourcast') return finish();
      ws.once('message', (buf: Buffer) => {
        if (buf.subarray(0, responsePrefix.length).equals(responsePrefix)) {
          const msg = JSON.parse(buf.toString('utf8')) as { ok: boolean; error?: { code: string } };
          return finish(msg.ok ? undefined : new Error(`join ${msg.error?.code ?? 'failed'}`));
        }
        finish(new Error('join: unexpected first frame'));
      });
      ws.send(JSON.stringify({ type: 'request', id: 1, method: 'join', data: { name } }));
    });
  }).then((ws) => {
    const w = ws as WebSocket;
    w.removeAllListeners('message');
    w.removeAllListeners('close');
    w.removeAllListeners('error');
    w.on('error', () => undefined);
    w.on('message', onFrame);
    return w;
  });
}

function openSocketIo(url: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = ioClient(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: timeoutMs });
    const timer = setTimeout(() => {
      s.disconnect();
      reject(new Error('timeout'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('connect_error', (err) => {
      clearTimeout(timer);
      s.disconnect();
      reject(new Error(`connect_error: ${err.message}`));
    });
  });
}

async function openViewer(cmd: ConnectCommand, index: number): Promise<void> {
  const sampled = index % cmd.sampleEvery === 0;
  if (cmd.kind === 'socketio') {
    const s = await openSocketIo(cmd.url, cmd.timeoutMs);
    s.on('message', (m: { text?: unknown }) => {
      if (typeof m?.text === 'string') onViewerText(m.text, sampled);
    });
    s.on('disconnect', (reason) => {
      openReceivers--;
      countClose(`disconnect: ${reason}`);
    });
    sockets.push({ close: () => s.disconnect() });
  } else {
    const ws = await openWs(cmd.kind, cmd.url, `v${index}`, cmd.timeoutMs, (buf) => onViewerFrame(buf, sampled));
    ws.on('close', (code) => {
      openReceivers--;
      countClose(`close ${code}`);
    });
    sockets.push({ close: () => ws.terminate() });
  }
  openReceivers++;
}

async function openSender(cmd: ConnectCommand, index: number): Promise<Sender> {
  const peerId = randomUUID();
  const name = `Sender ${index}`;
  let seq = 0;
  if (cmd.kind === 'socketio') {
    const s = await openSocketIo(cmd.senders[index]!.url, cmd.timeoutMs);
    s.on('message', (m: { text?: unknown }) => onSenderDelivery(typeof m?.text === 'string' && phase !== undefined && m.text.includes(phase.markerText)));
    s.on('disconnect', (reason) => countClose(`sender disconnect: ${reason}`));
    sockets.push({ close: () => s.disconnect() });
    return {
      send: (phaseId, n) => s.emit('message', { id: randomUUID(), seq: ++seq, ts: Date.now(), peerId, name, role: 'publisher', text: chatText(phaseId, index, n) }),
    };
  }
  const ws = await openWs(cmd.kind, cmd.senders[index]!.url, name, cmd.timeoutMs, (buf) => {
    if (cmd.kind === 'fourcast' && buf.subarray(0, responsePrefix.length).equals(responsePrefix)) {
      const msg = JSON.parse(buf.toString('utf8')) as { ok: boolean; error?: { code: string } };
      if (!msg.ok && phase) bump(phase.sendErrors, msg.error?.code ?? 'unknown');
      return;
    }
    onSenderDelivery(phase !== undefined && buf.indexOf(phase.marker) !== -1);
  });
  ws.on('close', (code) => countClose(`sender close ${code}`));
  sockets.push({ close: () => ws.terminate() });
  let reqId = 1;
  if (cmd.kind === 'fourcast') {
    return { send: (phaseId, n) => ws.send(JSON.stringify({ type: 'request', id: ++reqId, method: 'chatSend', data: { text: chatText(phaseId, index, n) } })) };
  }
  // Bare uWS: the sender sends the notification the server will publish as is (same shape and size as Fourcast's).
  return {
    send: (phaseId, n) =>
      ws.send(
        JSON.stringify({
          type: 'notification',
          method: 'chatMessage',
          data: { id: randomUUID(), seq: ++seq, ts: Date.now(), peerId, name, role: 'publisher', text: chatText(phaseId, index, n) },
        }),
      ),
  };
}

let senders: Sender[] = [];

async function connect(cmd: ConnectCommand): Promise<void> {
  const started = Date.now();
  const errors: Record<string, number> = {};
  let failed = 0;
  const note = (err: unknown) => {
    failed++;
    bump(errors, err instanceof Error ? err.message : String(err));
  };
  for (let first = 0; first < cmd.receivers; first += cmd.batch) {
    const jobs: Promise<void>[] = [];
    for (let i = first; i < Math.min(cmd.receivers, first + cmd.batch); i++) jobs.push(openViewer(cmd, cmd.receiverOffset + i).catch(note));
    await Promise.all(jobs);
  }
  const opened = await Promise.all(cmd.senders.map((_, i) => openSender(cmd, i).catch((err: unknown) => (note(err), undefined))));
  senders = opened.filter((s): s is Sender => s !== undefined);
  toParent({ type: 'connected', receivers: openReceivers, senders: senders.length, failed, errors, ms: Date.now() - started, nofile: openFileLimit() });
}

// ---- phases ------------------------------------------------------------------------

function runPhase(cmd: PhaseCommand): void {
  const p: Phase = {
    id: cmd.id,
    marker: Buffer.from(phaseMarker(cmd.id)),
    markerText: phaseMarker(cmd.id),
    windowEnd: cmd.startAt + cmd.durationMs,
    graceEnd: cmd.startAt + cmd.durationMs + cmd.graceMs,
    sent: 0,
    viewerInWindow: 0,
    viewerTotal: 0,
    senderTotal: 0,
    latencies: new Float64Array(MAX_SAMPLES),
    nLat: 0,
    sendErrors: {},
    closes: {},
  };
  phase = p;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let cpu0 = process.cpuUsage();

  setTimeout(
    () => {
      cpu0 = process.cpuUsage();
      loop.enable();
      if (cmd.rate > 0 && senders.length > 0) send(p, cmd);
    },
    Math.max(0, cmd.startAt - Date.now()),
  );

  setTimeout(
    () => {
      loop.disable();
      const cpu = process.cpuUsage(cpu0);
      if (phase === p) phase = undefined;
      const result: PhaseResult = {
        type: 'phaseResult',
        id: p.id,
        sent: p.sent,
        viewerInWindow: p.viewerInWindow,
        viewerTotal: p.viewerTotal,
        senderTotal: p.senderTotal,
        latencies: Array.from(p.latencies.subarray(0, p.nLat)),
        sendErrors: p.sendErrors,
        closes: p.closes,
        openReceivers,
        cpuUs: cpu.user + cpu.system,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
      };
      toParent(result);
    },
    Math.max(0, p.graceEnd - Date.now()) + 20,
  );
}

/** Fixed-rate sending: at each tick, send what the schedule says is due (round-robin over senders). */
function send(p: Phase, cmd: PhaseCommand): void {
  const total = Math.round((cmd.rate * cmd.durationMs) / 1000);
  const hardStop = cmd.startAt + cmd.durationMs + 1000;
  let next = 0;
  const tick = () => {
    const now = Date.now();
    const due = Math.min(total, Math.floor(((now - cmd.startAt) / 1000) * cmd.rate) + 1);
    while (p.sent < due) {
      senders[next]!.send(p.id, p.sent);
      next = (next + 1) % senders.length;
      p.sent++;
    }
    if (p.sent < total && now < hardStop) setTimeout(tick, 2);
  };
  tick();
}

// ---- main ---------------------------------------------------------------------------

function stop(): void {
  for (const s of sockets) {
    try {
      s.close();
    } catch {
      // already gone
    }
  }
  setTimeout(() => process.exit(0), 200).unref();
}

exitWithParent(stop);
process.on('message', (m: ToGenerator) => {
  if (m.type === 'connect') {
    connect(m).catch((err: unknown) => {
      toParent({ type: 'fatal', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    });
  } else if (m.type === 'phase') runPhase(m);
  else stop();
});
process.on('uncaughtException', (err) => {
  toParent({ type: 'fatal', message: err.stack ?? err.message });
  process.exit(1);
});
