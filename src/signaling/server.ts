import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { AccessRefused, authorise, type AccessPolicy } from '../auth/access.js';
import { ProtocolError, parseRequest, type ErrorCode, type ParsedRequest } from '../protocol/messages.js';
import type { RoomManager } from '../rooms/roomManager.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from './uws.js';
import type { WebSocketBehavior } from 'uWebSockets.js';
import { loadUws } from './uws.js';
import { clientAddress, trustFunction, type TrustProxy } from '../http/clientAddress.js';
import { Session } from './session.js';
import { dispatch, type DispatchContext } from './dispatch.js';
import type { AddressLimits } from './addressLimits.js';

export interface SignalingOptions {
  rooms: RoomManager;
  /** Who may open a socket for which room (shared with `POST /api/access`). */
  access: AccessPolicy;
  log: Logger;
  /** True while the node drains: upgrades and joins are refused. */
  isDraining: () => boolean;
  /** Largest accepted frame; bigger ones close the socket (uWS enforces it). */
  maxPayloadBytes?: number;
  /** Requests per second per connection, and burst. */
  requestRate?: { perSecond: number; burst: number };
  metrics: Metrics;
  /** Unsent bytes a client may accumulate before it is dropped as too slow. */
  maxBufferBytes?: number;
  /** Which proxies' X-Forwarded-For to believe for the client address (TRUST_PROXY, as for HTTP). */
  trustProxy?: TrustProxy;
  /** Connections and chat budget per client address (shared with the access policy). */
  addressLimits: AddressLimits;
  /** Chat messages per second and burst of one connection, across its joins. */
  chatRate: { perSecond: number; burst: number };
}

const STATUS = { 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 429: '429 Too Many Requests', 503: '503 Service Unavailable' } as const;

/** uWS user data: the connection's session (uWS may copy this object; the session is shared by reference). */
interface ConnData {
  session: Session;
}

type Ws = WebSocket<ConnData>;

/**
 * The WebSocket endpoint `/ws`: authenticates the upgrade, decodes and
 * validates every frame with the protocol module, runs it through the one
 * dispatch table (dispatch.ts) and encodes replies. No business logic lives here.
 */
export function attachSignaling(app: TemplatedApp, opts: SignalingOptions): { close(): void; mount(domain: TemplatedApp): void } {
  const uws = loadUws();
  const log = opts.log.child({ component: 'signaling' });
  const budgets = { requests: opts.requestRate ?? { perSecond: 50, burst: 200 }, chat: opts.chatRate };
  const maxBuffer = opts.maxBufferBytes ?? 512 * 1024;
  const sessions = new Set<Session>();
  const access = opts.access;
  const limits = opts.addressLimits;
  const trust = trustFunction(opts.trustProxy ?? false);
  const ctx: DispatchContext = { rooms: opts.rooms, access, metrics: opts.metrics, limits, isDraining: opts.isDraining };

  // Slow readers: uWS buffers what a client has not read yet. Once a client is
  // past the bound it is dropped with a reason, so one stalled viewer cannot
  // grow the server's memory (uWS's maxBackpressure below caps it between sweeps).
  const sweep = setInterval(() => {
    let largest = 0;
    for (const session of sessions) {
      if (session.closed) continue;
      const buffered = session.bufferedAmount;
      if (buffered > largest) largest = buffered;
      if (session.droppedSlow || buffered <= maxBuffer) continue;
      opts.metrics.wsBackpressureDrop();
      log.warn({ peer: session.peer?.id, buffered }, 'dropping a client that does not keep up');
      session.droppedSlow = true;
      session.close(4008, 'too slow: your connection could not keep up with the room');
      // A stalled reader may never take the close frame either.
      const t = setTimeout(() => session.terminate(), 2000);
      t.unref();
    }
    opts.metrics.wsMaxBufferedBytes(largest);
  }, 100);
  sweep.unref();

  const reply = (session: Session, id: number | null, payload: { ok: true; data: unknown } | { ok: false; code: ErrorCode; message: string }) => {
    session.send(
      payload.ok
        ? JSON.stringify({ type: 'response', id, ok: true, data: payload.data })
        : JSON.stringify({ type: 'response', id, ok: false, error: { code: payload.code, message: payload.message } }),
    );
  };

  const fail = (session: Session, id: number | null, err: unknown, method?: string) => {
    if (err instanceof ProtocolError) {
      opts.metrics.protocolError(err.code);
      // A refused chat line is a dropped message for operators (rate-limited, too-large, ...).
      if (method === 'chatSend') opts.metrics.chatDropped(err.code);
      log.debug({ peer: session.peer?.id, method, code: err.code, msg: err.message }, 'request refused');
      return reply(session, id ?? err.requestId, { ok: false, code: err.code, message: err.message });
    }
    log.error({ err, peer: session.peer?.id, method }, 'request failed');
    reply(session, id, { ok: false, code: 'internal', message: 'internal error; the request was not applied' });
  };

  async function run(session: Session, req: ParsedRequest): Promise<void> {
    try {
      reply(session, req.id, { ok: true, data: await dispatch(session, req.method, req.data, ctx) });
    } catch (err) {
      fail(session, req.id, err, req.method);
    }
  }

  const behavior: WebSocketBehavior<ConnData> = {
    compression: uws.DISABLED,
    maxPayloadLength: opts.maxPayloadBytes ?? 64 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    // Hard cap: past twice the bound uWS stops queueing for this socket (what it
    // misses, chat replays on reconnect), and the next sweep drops it with a reason.
    maxBackpressure: 2 * maxBuffer,
    closeOnBackpressureLimit: 0,

    upgrade: (res: HttpResponse, req: HttpRequest, context) => {
      const query = new URLSearchParams(req.getQuery() ?? '');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // The client's address as Fastify's req.ip gives it (same TRUST_PROXY rule): bans and
      // limits per address must not take a proxy for the client, nor believe a client's header.
      const remote = clientAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for') || undefined, trust);
      let aborted = false;
      res.onAborted(() => (aborted = true));

      const refuse = (status: string, code: string, message: string) => {
        if (aborted) return;
        res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify({ error: code, message })));
      };

      authorise({ room: query.get('room'), token: query.get('token'), remote }, access)
        .then((grant) => {
          if (aborted) return;
          // Counted here, synchronously with the upgrade: concurrent upgrades cannot all pass the check.
          if (!limits.openConnection(remote)) {
            opts.metrics.limitRefused('ws-connections-per-address');
            return refuse(STATUS[429], 'too-many-connections', 'Too many connections from your network address; close other tabs of this site and try again.');
          }
          const data: ConnData = { session: new Session(grant, remote, budgets) };
          res.cork(() => res.upgrade(data, key, protocol, extensions, context));
        })
        .catch((err: unknown) => {
          if (err instanceof AccessRefused) {
            if (err.code === 'too-many-connections') opts.metrics.limitRefused('ws-connections-per-address');
            return refuse(STATUS[err.status], err.code, err.message);
          }
          log.error({ err }, 'upgrade failed');
          refuse('500 Internal Server Error', 'internal', 'internal error');
        });
    },

    open: (ws: Ws) => {
      const { session } = ws.getUserData();
      session.attach(ws);
      sessions.add(session);
      opts.metrics.wsConnection(1);
    },

    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      const { session } = ws.getUserData();
      if (!session.requests.take()) return fail(session, peekRequestId(message), new ProtocolError('rate-limited', 'too many requests; slow down'));
      if (isBinary) return fail(session, null, new ProtocolError('bad-request', 'binary frames are not part of the protocol'));
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.from(message).toString('utf8'));
      } catch {
        return fail(session, null, new ProtocolError('bad-request', 'frame is not valid JSON'));
      }
      let req: ParsedRequest;
      try {
        req = parseRequest(raw);
      } catch (err) {
        return fail(session, null, err);
      }
      void run(session, req);
    },

    close: (ws: Ws) => {
      const { session } = ws.getUserData();
      sessions.delete(session);
      opts.metrics.wsConnection(-1);
      limits.closeConnection(session.remote);
      session.ended();
    },
  };
  app.ws<ConnData>('/ws', behavior);

  return {
    close: () => clearInterval(sweep),
    // An SNI domain of a TLS app has its own routes; sockets on every domain share the topics.
    mount: (domain) => void domain.ws<ConnData>('/ws', behavior),
  };
}

/**
 * The request id of a frame, read from its first bytes without parsing it (clients write
 * `{"type":"request","id":N,…`): a refused request is answered with its id, so the client
 * does not wait out its timeout, and refusing stays cheap. null when not found there.
 */
export function peekRequestId(frame: ArrayBuffer): number | null {
  const head = Buffer.from(frame, 0, Math.min(frame.byteLength, 64)).toString('latin1');
  const m = /"id"\s*:\s*(\d{1,15})\s*[,}]/.exec(head);
  return m ? Number(m[1]) : null;
}
