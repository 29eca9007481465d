import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { AccessRefused, authorise, type AccessGrant, type AccessPolicy } from '../auth/access.js';
import { ProtocolError, parseRequest, type ErrorCode, type ParsedRequest } from '../protocol/messages.js';
import type { Peer } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import type { RoomManager } from '../rooms/roomManager.js';
import { handleRoomRequest } from '../rooms/requests.js';
import { TokenBucket } from '../util/tokenBucket.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from './uws.js';
import type { WebSocketBehavior } from 'uWebSockets.js';
import { loadUws } from './uws.js';
import { clientAddress, trustFunction, type TrustProxy } from '../http/clientAddress.js';
import { fitCloseReason } from './closeReason.js';
import { visibleName } from '../protocol/names.js';
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

/** A guest broadcaster link lasts one show unless the request says otherwise. */
const GUEST_LINK_TTL_SECONDS = 4 * 3600;

const STATUS = { 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 429: '429 Too Many Requests', 503: '503 Service Unavailable' } as const;

export interface ConnData {
  grant: AccessGrant;
  remote: string;
  closed: boolean;
  joining: boolean;
  peer: Peer | undefined;
  room: Room | undefined;
  bucket: TokenBucket;
  /** Chat budget of this connection: it outlives joins, so leave + join does not refill it. */
  chatBucket: TokenBucket;
  /** The peer whose first frame was reported (once per peer). */
  firstFrameOf: string | undefined;
  banKeys: string[];
  droppedSlow?: boolean;
}

type Ws = WebSocket<ConnData>;

/**
 * The WebSocket endpoint `/ws`: authenticates the upgrade, decodes and
 * validates every frame with the protocol module, dispatches to rooms/, and
 * encodes replies. No business logic lives here.
 */
export function attachSignaling(app: TemplatedApp, opts: SignalingOptions): { close(): void; mount(domain: TemplatedApp): void } {
  const uws = loadUws();
  const log = opts.log.child({ component: 'signaling' });
  const rate = opts.requestRate ?? { perSecond: 50, burst: 200 };
  const maxBuffer = opts.maxBufferBytes ?? 512 * 1024;
  const conns = new Set<Ws>();
  const access = opts.access;
  const limits = opts.addressLimits;
  const trust = trustFunction(opts.trustProxy ?? false);

  // Slow readers: uWS buffers what a client has not read yet. Once a client is
  // past the bound it is dropped with a reason, so one stalled viewer cannot
  // grow the server's memory (uWS's maxBackpressure below caps it between sweeps).
  const sweep = setInterval(() => {
    let largest = 0;
    for (const ws of conns) {
      const conn = ws.getUserData();
      if (conn.closed) continue;
      const buffered = ws.getBufferedAmount();
      if (buffered > largest) largest = buffered;
      if (conn.droppedSlow || buffered <= maxBuffer) continue;
      opts.metrics.wsBackpressureDrop();
      log.warn({ peer: conn.peer?.id, buffered }, 'dropping a client that does not keep up');
      conn.droppedSlow = true;
      ws.end(4008, 'too slow: your connection could not keep up with the room');
      // A stalled reader may never take the close frame either.
      const t = setTimeout(() => !ws.getUserData().closed && ws.close(), 2000);
      t.unref();
    }
    opts.metrics.wsMaxBufferedBytes(largest);
  }, 100);
  sweep.unref();

  const reply = (ws: Ws, id: number | null, payload: { ok: true; data: unknown } | { ok: false; code: ErrorCode; message: string }) => {
    const data = ws.getUserData();
    if (data.closed) return;
    const msg = payload.ok
      ? JSON.stringify({ type: 'response', id, ok: true, data: payload.data })
      : JSON.stringify({ type: 'response', id, ok: false, error: { code: payload.code, message: payload.message } });
    ws.cork(() => ws.send(msg));
  };

  const fail = (ws: Ws, id: number | null, err: unknown, method?: string) => {
    if (err instanceof ProtocolError) {
      opts.metrics.protocolError(err.code);
      log.debug({ peer: ws.getUserData().peer?.id, method, code: err.code, msg: err.message }, 'request refused');
      return reply(ws, id ?? err.requestId, { ok: false, code: err.code, message: err.message });
    }
    log.error({ err, peer: ws.getUserData().peer?.id }, 'request failed');
    reply(ws, id, { ok: false, code: 'internal', message: 'internal error; the request was not applied' });
  };

  async function dispatch(ws: Ws, req: ParsedRequest): Promise<void> {
    const conn = ws.getUserData();
    try {
      switch (req.method) {
        case 'join': {
          if (conn.peer || conn.joining) throw new ProtocolError('already-joined', 'this connection already joined');
          if (opts.isDraining()) throw new ProtocolError('draining', 'this node is shutting down; reconnect shortly');
          // A token's name wins; a name the person typed must show something (not U+3164 alone).
          const typed = conn.grant.name === undefined ? req.data.name : undefined;
          const asked = typed === undefined ? undefined : visibleName(typed);
          if (typed !== undefined && asked === undefined) throw new ProtocolError('bad-request', 'your name has no visible characters; choose another');
          conn.joining = true;
          const name = conn.grant.name ?? asked ?? `Viewer ${Math.floor(Math.random() * 9000 + 1000)}`;
          const joined = await opts.rooms
            .join({
              roomId: conn.grant.room,
              role: conn.grant.role,
              name,
              address: conn.remote,
              banKeys: conn.banKeys,
              chatSince: req.data.chatSince,
              chatEpoch: req.data.chatEpoch,
              tokenId: conn.grant.tokenId,
              takeOver: req.data.takeOver,
              link: {
                send: (m) => {
                  if (!conn.closed) ws.cork(() => ws.send(m));
                },
                close: (code, reason) => {
                  if (!conn.closed) ws.end(code, fitCloseReason(reason));
                },
              },
            })
            .finally(() => (conn.joining = false));
          if (conn.closed) {
            joined.room.leave(joined.peer);
            return;
          }
          conn.peer = joined.peer;
          conn.room = joined.room;
          if (req.data.rtpCapabilities) joined.room.setRtpCapabilities(joined.peer, { rtpCapabilities: req.data.rtpCapabilities });
          ws.subscribe(joined.room.topic);
          joined.peer.log.info({ name }, 'peer joined');
          return reply(ws, req.id, { ok: true, data: joined.response });
        }
        case 'leave': {
          leave(ws);
          return reply(ws, req.id, { ok: true, data: {} });
        }
        case 'reportFirstFrame': {
          if (!conn.peer) throw new ProtocolError('not-joined', 'join first');
          // Once per participant: one client cannot fill the histogram.
          if (conn.firstFrameOf !== conn.peer.id) {
            conn.firstFrameOf = conn.peer.id;
            opts.metrics.firstFrame(req.data.milliseconds / 1000);
          }
          return reply(ws, req.id, { ok: true, data: {} });
        }
        case 'mintGuestLink': {
          if (!conn.peer || !conn.room) throw new ProtocolError('not-joined', 'join first');
          if (!conn.peer.canPublish) throw new ProtocolError('forbidden', 'only broadcasters and admins can invite a guest broadcaster');
          const ttlSeconds = req.data.ttlSeconds ?? GUEST_LINK_TTL_SECONDS;
          const token = await access.tokens.mint({ role: 'publisher', room: conn.room.id, name: req.data.name, ttlSeconds });
          conn.peer.log.info({ guest: req.data.name, ttlSeconds }, 'guest broadcaster link minted');
          return reply(ws, req.id, { ok: true, data: { token, room: conn.room.id, name: req.data.name, expiresAt: Date.now() + ttlSeconds * 1000 } });
        }
        default: {
          if (!conn.peer || !conn.room) throw new ProtocolError('not-joined', 'join first');
          if (req.method === 'chatSend' && !conn.peer.isModerator && !(conn.chatBucket.take() && limits.takeChat(conn.remote))) {
            throw new ProtocolError('rate-limited', 'you are sending messages too fast; wait a moment');
          }
          const data = await handleRoomRequest(conn.room, conn.peer, req);
          if (req.method === 'chatSend') {
            opts.metrics.chatMessage('in');
            opts.metrics.chatMessage('out', conn.room.peers.size);
          }
          return reply(ws, req.id, { ok: true, data });
        }
      }
    } catch (err) {
      // A refused chat line is a dropped message for operators (rate-limited, too-large, ...).
      if (req.method === 'chatSend' && err instanceof ProtocolError) opts.metrics.chatDropped(err.code);
      fail(ws, req.id, err, req.method);
    }
  }

  function leave(ws: Ws): void {
    const conn = ws.getUserData();
    if (conn.room && conn.peer) {
      if (!conn.closed) ws.unsubscribe(conn.room.topic);
      conn.room.leave(conn.peer);
      conn.peer.log.info('peer left');
    }
    conn.peer = undefined;
    conn.room = undefined;
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
          const data: ConnData = {
            grant,
            remote,
            closed: false,
            joining: false,
            peer: undefined,
            room: undefined,
            bucket: new TokenBucket(rate.perSecond, rate.burst),
            chatBucket: new TokenBucket(opts.chatRate.perSecond, opts.chatRate.burst),
            firstFrameOf: undefined,
            banKeys: grant.banKeys,
          };
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
      conns.add(ws);
      opts.metrics.wsConnection(1);
    },

    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      const conn = ws.getUserData();
      if (!conn.bucket.take()) return fail(ws, peekRequestId(message), new ProtocolError('rate-limited', 'too many requests; slow down'));
      if (isBinary) return fail(ws, null, new ProtocolError('bad-request', 'binary frames are not part of the protocol'));
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.from(message).toString('utf8'));
      } catch {
        return fail(ws, null, new ProtocolError('bad-request', 'frame is not valid JSON'));
      }
      let req: ParsedRequest;
      try {
        req = parseRequest(raw);
      } catch (err) {
        return fail(ws, null, err);
      }
      void dispatch(ws, req);
    },

    close: (ws: Ws) => {
      conns.delete(ws);
      opts.metrics.wsConnection(-1);
      const conn = ws.getUserData();
      conn.closed = true;
      limits.closeConnection(conn.remote);
      leave(ws);
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
