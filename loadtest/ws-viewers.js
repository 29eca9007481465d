/* global __VU */
/**
 * Fourcast signaling + chat load test (k6, `k6/websockets` event-loop API).
 *
 * Anonymous viewers ramp into one room over the real protocol (`?room=NAME`, then the
 * `join` request), stay for DURATION and receive every chat message; a fraction of them
 * (SENDER_RATIO) send chat at a fixed interval inside the per-participant rate limit.
 * Each message carries the sender's clock (`t=<ms>`), so receivers measure delivery
 * latency end to end (same machine or synchronised clocks); the server's `ts` gives
 * the server→client leg as well.
 *
 *   k6 run loadtest/ws-viewers.js                                  # default profile
 *   PROFILE=smoke BASE_WS=ws://127.0.0.1:3001/ws k6 run loadtest/ws-viewers.js
 *
 * Viewers = VUS × CONNS_PER_VU: one k6 VU can hold several sockets on its event loop,
 * which keeps k6's own memory low for large audiences. Every VU runs exactly one
 * iteration, so the run is bounded: RAMP + DURATION (+ a short grace period).
 * See loadtest/README.md for every variable.
 */
import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout, setInterval, clearInterval } from 'k6/timers';
import exec from 'k6/execution';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { env, envNumber, durationMs, k6Duration, summaryOutputs } from './lib.js';

const PROFILES = {
  // ≈25 s in all: 50 viewers ramp in over 8 s, stay 15 s, 5 of them chat every 1.5 s.
  smoke: { VUS: 50, CONNS_PER_VU: 1, RAMP: '8s', DURATION: '15s', SENDER_RATIO: 0.1, MSG_INTERVAL_MS: 1500 },
  // ≈3 min: 500 viewers (100 VUs × 5 sockets) over 1 min, 2 min steady, 5 % chatting every 2 s.
  default: { VUS: 100, CONNS_PER_VU: 5, RAMP: '1m', DURATION: '2m', SENDER_RATIO: 0.05, MSG_INTERVAL_MS: 2000 },
};
const profileName = env('PROFILE', undefined, 'default');
const profile = PROFILES[profileName];
if (!profile) throw new Error(`PROFILE must be one of ${Object.keys(PROFILES).join(', ')}, got "${profileName}"`);

// One URL, or several separated by commas (cluster nodes): viewer i joins node i mod n, and
// every viewer must still get every message (the room's sequence is cluster-wide).
const BASE_WS = env('BASE_WS', undefined, 'ws://127.0.0.1:3001/ws');
const NODES = BASE_WS.split(',').map((u) => u.trim()).filter((u) => u !== '');
const ROOM = env('ROOM', undefined, `loadtest-${profileName}`);
const VUS = envNumber('VUS', profile.VUS);
const CONNS_PER_VU = envNumber('CONNS_PER_VU', profile.CONNS_PER_VU);
const RAMP_MS = durationMs('RAMP', profile.RAMP);
const DURATION_MS = durationMs('DURATION', profile.DURATION);
const SENDER_RATIO = envNumber('SENDER_RATIO', profile.SENDER_RATIO);
const MSG_INTERVAL_MS = envNumber('MSG_INTERVAL_MS', profile.MSG_INTERVAL_MS);
/** The server's per-participant limit (CHAT_RATE_PER_SECOND), only to warn about intervals that exceed it. */
const CHAT_RATE = envNumber('CHAT_RATE_PER_SECOND', undefined, 1);
const JOIN_TIMEOUT_MS = envNumber('JOIN_TIMEOUT_MS', undefined, 10_000);
const REQUEST_TIMEOUT_MS = envNumber('REQUEST_TIMEOUT_MS', undefined, 5_000);
/** Senders stop this long before the end so the last messages arrive before sockets close. */
const QUIET_MS = envNumber('QUIET_MS', undefined, 2_000);
const CHAT_P95_MS = envNumber('CHAT_P95_MS', undefined, 500);
const JOIN_P95_MS = envNumber('JOIN_P95_MS', undefined, 2_000);
const MAX_MISSED = envNumber('MAX_MISSED', undefined, 0);

const VIEWERS = VUS * CONNS_PER_VU;
if (!(VUS >= 1 && CONNS_PER_VU >= 1 && Number.isInteger(VUS) && Number.isInteger(CONNS_PER_VU))) throw new Error('VUS and CONNS_PER_VU must be whole numbers >= 1');
if (!(SENDER_RATIO >= 0 && SENDER_RATIO <= 1)) throw new Error('SENDER_RATIO must be between 0 and 1');
if (!(MSG_INTERVAL_MS >= 50)) throw new Error('MSG_INTERVAL_MS must be at least 50');
if (NODES.length === 0 || NODES.some((u) => !/^wss?:\/\//.test(u))) throw new Error(`BASE_WS must be a ws:// or wss:// URL, or several separated by commas, got "${BASE_WS}"`);
if (1000 / MSG_INTERVAL_MS > CHAT_RATE) {
  console.warn(`MSG_INTERVAL_MS=${MSG_INTERVAL_MS} sends ${(1000 / MSG_INTERVAL_MS).toFixed(2)} msg/s per sender, above CHAT_RATE_PER_SECOND=${CHAT_RATE}: expect rate-limited errors once the burst is spent`);
}

/** Sender i of the viewers, spread evenly: exactly round(VIEWERS × SENDER_RATIO) of them (at least one when the ratio is > 0). */
function isSender(index) {
  if (SENDER_RATIO <= 0) return false;
  const senders = Math.max(1, Math.round(VIEWERS * SENDER_RATIO));
  return Math.floor(((index + 1) * senders) / VIEWERS) > Math.floor((index * senders) / VIEWERS);
}
const SENDERS = Array.from({ length: VIEWERS }, (_, i) => i).filter(isSender).length;

const params = { profile: profileName, BASE_WS, NODES: NODES.length, ROOM, VUS, CONNS_PER_VU, VIEWERS, SENDERS, RAMP_MS, DURATION_MS, SENDER_RATIO, MSG_INTERVAL_MS, CHAT_P95_MS, JOIN_P95_MS };

// ---- metrics ---------------------------------------------------------------------------------
const joinSuccess = new Rate('join_success');
const joinLatency = new Trend('join_latency', true); // socket opening → join response
const chatDelivery = new Trend('chat_delivery_latency', true); // sender's clock → receipt
const chatServerToClient = new Trend('chat_server_to_client', true); // server ts → receipt
const chatAck = new Trend('chat_send_ack', true); // chatSend → its response
const received = new Counter('chat_messages_received');
const sent = new Counter('chat_messages_sent');
const missed = new Counter('chat_messages_missed'); // gaps in the room's sequence numbers, and lines still undelivered at the end (tag where)
const protocolErrors = new Counter('protocol_errors'); // tagged with kind (and code for error responses)
const errorRate = new Rate('ws_errors'); // per request/connection outcome: true = failed
const viewerCountSeen = new Gauge('viewer_count_seen');

export const options = {
  scenarios: {
    viewers: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: k6Duration(RAMP_MS + DURATION_MS + JOIN_TIMEOUT_MS + 15_000),
      gracefulStop: '10s',
    },
  },
  thresholds: {
    join_success: ['rate>0.99'],
    join_latency: [`p(95)<${JOIN_P95_MS}`],
    chat_delivery_latency: [`p(95)<${CHAT_P95_MS}`],
    ws_errors: ['rate<0.01'],
    chat_messages_missed: [`count<=${MAX_MISSED}`],
    // With senders, messages must actually flow (an empty Trend would pass its threshold).
    ...(SENDERS > 0 ? { chat_messages_received: ['count>0'] } : {}),
    // With several nodes, each one's viewers must get chat (a node that fans out nothing fails).
    ...(SENDERS > 0 && NODES.length > 1 ? Object.fromEntries(NODES.map((_, i) => [`chat_messages_received{node:${i}}`, ['count>0']])) : {}),
  },
  // The summary's trend columns, including the p(99) the README quotes.
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

const TS_RE = /\bt=(\d{13})\b/;
let errorsLogged = 0; // per VU: the first few socket errors are printed

function protocolError(kind, code) {
  protocolErrors.add(1, code ? { kind, code } : { kind });
}

/** One viewer: connect now, join, listen (and maybe send), leave at leaveAt. */
function viewer(index, leaveAt) {
  const sender = isSender(index);
  const base = NODES[index % NODES.length];
  const node = { node: String(index % NODES.length) }; // tag: which node this viewer is on
  const url = `${base}${base.includes('?') ? '&' : '?'}room=${encodeURIComponent(ROOM)}`;
  const openedAt = Date.now();
  const ws = new WebSocket(url);
  const pending = new Map(); // request id → { method, at }
  let nextId = 1;
  let joined = false;
  let joinSettled = false;
  let closing = false;
  let lastSeq = null;
  let msgNo = 0;
  let sendTimer = null;
  let sendStart = null;
  let leaveTimer = null;
  let sweepTimer = null;

  const request = (method, data) => {
    const id = nextId++;
    pending.set(id, { method, at: Date.now() });
    ws.send(JSON.stringify({ type: 'request', id, method, data }));
    return id;
  };

  const settleJoin = (ok, kind, code) => {
    if (joinSettled) return;
    joinSettled = true;
    joinSuccess.add(ok, node);
    errorRate.add(!ok, { op: 'join' });
    if (!ok) protocolError(kind, code);
  };

  const stop = () => {
    if (sendStart) clearTimeout(sendStart);
    if (sendTimer) clearInterval(sendTimer);
    if (leaveTimer) clearTimeout(leaveTimer);
    if (sweepTimer) clearInterval(sweepTimer);
    sendStart = sendTimer = leaveTimer = sweepTimer = null;
  };

  const leave = () => {
    if (closing) return;
    closing = true;
    stop();
    ws.close();
  };

  // Before leaving, ask the node what came after the last message this viewer got: anything
  // it answers was never delivered (a hole at the end, which the gap check cannot see).
  let finalCheck = false;
  const finish = () => {
    if (closing || finalCheck) return;
    if (!joined || lastSeq === null) return leave();
    finalCheck = true;
    stop();
    request('chatSync', { since: lastSeq });
    leaveTimer = setTimeout(() => {
      errorRate.add(true, { op: 'chatSync' });
      protocolError('request-timeout');
      leave();
    }, REQUEST_TIMEOUT_MS);
  };

  const joinTimer = setTimeout(() => {
    if (joinSettled) return;
    settleJoin(false, 'join-timeout');
    leave();
  }, JOIN_TIMEOUT_MS);

  // Requests that never get an answer count as errors (checked once a second).
  sweepTimer = setInterval(() => {
    const now = Date.now();
    for (const [id, p] of pending) {
      if (p.method === 'join' || now - p.at < REQUEST_TIMEOUT_MS) continue;
      pending.delete(id);
      errorRate.add(true, { op: p.method });
      protocolError('request-timeout');
    }
  }, 1000);

  ws.addEventListener('open', () => {
    request('join', { name: `k6 ${index}` });
  });

  ws.addEventListener('message', (event) => {
    const now = Date.now();
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      protocolError('bad-frame');
      return;
    }
    if (msg.type === 'response') {
      const p = msg.id == null ? undefined : pending.get(msg.id);
      if (p) pending.delete(msg.id);
      if (!msg.ok) {
        const code = (msg.error && msg.error.code) || 'unknown';
        if (p && p.method === 'join') {
          clearTimeout(joinTimer);
          settleJoin(false, 'error-response', code);
          leave();
        } else {
          errorRate.add(true, { op: p ? p.method : 'unknown' });
          protocolError('error-response', code);
        }
        return;
      }
      if (!p) return;
      if (p.method === 'join') {
        clearTimeout(joinTimer);
        joinLatency.add(now - openedAt);
        settleJoin(true);
        joined = true;
        lastSeq = msg.data && msg.data.chat ? msg.data.chat.lastSeq : null;
        if (msg.data && typeof msg.data.viewerCount === 'number') viewerCountSeen.add(msg.data.viewerCount);
        if (closing) return;
        const sendUntil = leaveAt - QUIET_MS;
        if (sender && Date.now() + MSG_INTERVAL_MS < sendUntil) {
          // A random phase, so senders do not fire in lockstep.
          sendStart = setTimeout(() => {
            sendStart = null;
            const send = () => {
              if (closing || Date.now() >= sendUntil) {
                if (sendTimer) clearInterval(sendTimer);
                sendTimer = null;
                return;
              }
              msgNo++;
              request('chatSend', { text: `k6 v${index} #${msgNo} t=${Date.now()}` });
              sent.add(1);
            };
            send();
            sendTimer = setInterval(send, MSG_INTERVAL_MS);
          }, Math.floor(Math.random() * MSG_INTERVAL_MS));
        }
      } else {
        errorRate.add(false, { op: p.method });
        if (p.method === 'chatSend') chatAck.add(now - p.at);
        if (p.method === 'chatSync') {
          // Only what is still past lastSeq now: a line delivered while the request was in flight arrived before this answer.
          const events = (msg.data && msg.data.events) || [];
          const tail = events.filter((e) => e.type === 'message' && e.seq > lastSeq).length;
          if (tail > 0) missed.add(tail, { ...node, where: 'tail' });
          leave();
        }
      }
      return;
    }
    if (msg.type !== 'notification') {
      protocolError('bad-frame');
      return;
    }
    switch (msg.method) {
      case 'chatMessage': {
        const m = msg.data || {};
        received.add(1, node);
        if (typeof m.ts === 'number') chatServerToClient.add(Math.max(0, now - m.ts));
        const t = TS_RE.exec(m.text || '');
        if (t) chatDelivery.add(Math.max(0, now - Number(t[1])));
        if (typeof m.seq === 'number' && lastSeq !== null) {
          if (m.seq > lastSeq + 1) missed.add(m.seq - lastSeq - 1, { ...node, where: 'gap' });
          else if (m.seq <= lastSeq) protocolError('seq-out-of-order');
          lastSeq = Math.max(lastSeq, m.seq);
        }
        break;
      }
      case 'chatDeleted':
      case 'chatCleared':
        if (msg.data && typeof msg.data.seq === 'number' && lastSeq !== null) lastSeq = Math.max(lastSeq, msg.data.seq);
        break;
      case 'viewerCount':
        if (msg.data && typeof msg.data.count === 'number') viewerCountSeen.add(msg.data.count);
        break;
      case 'closing':
      case 'draining':
        protocolError(`server-${msg.method}`, msg.data && msg.data.code);
        break;
      default:
        break;
    }
  });

  ws.addEventListener('error', (e) => {
    if (closing) return;
    const detail = e && e.error ? String(e.error) : 'error';
    if (!joinSettled) {
      clearTimeout(joinTimer);
      settleJoin(false, 'ws-error');
    } else {
      errorRate.add(true, { op: 'socket' });
      protocolError('ws-error');
    }
    if (errorsLogged++ < 3) console.warn(`viewer ${index}: ${detail}`);
    leave();
  });

  ws.addEventListener('close', () => {
    clearTimeout(joinTimer);
    if (!closing) {
      // The server closed a viewer that meant to stay (kick, slow-reader drop, crash...).
      closing = true;
      if (!joinSettled) settleJoin(false, 'closed-before-join');
      else {
        errorRate.add(true, { op: 'socket' });
        protocolError('unexpected-close');
      }
    } else if (joined) {
      errorRate.add(false, { op: 'socket' });
    }
    stop();
  });

  leaveTimer = setTimeout(finish, Math.max(0, leaveAt - Date.now()));
}

export default function () {
  const start = exec.scenario.startTime;
  const leaveAt = start + RAMP_MS + DURATION_MS;
  for (let j = 0; j < CONNS_PER_VU; j++) {
    const index = (__VU - 1) * CONNS_PER_VU + j;
    if (index >= VIEWERS) break;
    // Viewers ramp in linearly over RAMP: viewer i connects at RAMP × i / VIEWERS.
    const joinAt = start + (VIEWERS > 1 ? (RAMP_MS * index) / VIEWERS : 0);
    setTimeout(() => viewer(index, leaveAt), Math.max(0, joinAt - Date.now()));
  }
}

export function handleSummary(data) {
  return summaryOutputs(data, { defaultPath: 'loadtest/results/ws-summary.json', title: `Fourcast ws-viewers (${profileName}): ${VIEWERS} viewers, ${SENDERS} senders, room ${ROOM}`, params });
}
