import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { RoomManager } from '../rooms/roomManager.js';
import type { Room } from '../rooms/room.js';
import type { WorkerPool } from '../media/workerPool.js';
import type { TokenService } from '../auth/tokens.js';
import { describeWorkerBinary, type WorkerBinaryInfo } from '../media/workerBinary.js';
import { ProtocolError } from '../protocol/messages.js';
import { TOKEN_TTL, accessLinks, checkGrantRequest } from '../auth/links.js';
import { bearerChecker } from './bearer.js';

export interface AdminRoutesOptions {
  /** The operator's bearer token (ADMIN_TOKEN). */
  token: string;
  rooms: RoomManager;
  pool: WorkerPool;
  tokens: TokenService;
  /** Base URL people open, for the links of minted tokens; defaults to the request's own origin. */
  publicUrl?: () => string | undefined;
  /**
   * The mediasoup-worker binary the pool runs, for `GET /admin/workers`; called per request.
   * Defaults to `describeWorkerBinary()` (media/workerBinary.ts: mediasoup's binary and its origin record).
   */
  workerBinary?: () => WorkerBinaryInfo | Promise<WorkerBinaryInfo>;
}

/** Name of the OpenAPI security scheme the admin routes declare (see app.ts). */
export const ADMIN_SECURITY_SCHEME = 'adminBearer';

// ---- schemas ------------------------------------------------------------------------

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

const errors = {
  400: { ...errorSchema, description: 'Malformed parameters or body' },
  401: { ...errorSchema, description: 'Missing or wrong admin token' },
  403: { ...errorSchema, description: 'Not allowed' },
  404: { ...errorSchema, description: 'Unknown room, peer or message' },
  409: { ...errorSchema, description: 'Not possible in the current state' },
} as const;

const ROOM_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const idString = { type: 'string', minLength: 1, maxLength: 64 } as const;
const roomParam = { type: 'string', pattern: ROOM_PATTERN, description: 'Room id' } as const;
const reasonString = { type: 'string', minLength: 1, maxLength: 200, description: 'Shown to the affected clients' } as const;

const roomParams = { type: 'object', properties: { room: roomParam }, required: ['room'], additionalProperties: false } as const;
const peerParams = {
  type: 'object',
  properties: { room: roomParam, peerId: { ...idString, description: 'Peer id (see GET /admin/rooms/{room})' } },
  required: ['room', 'peerId'],
  additionalProperties: false,
} as const;
const messageParams = {
  type: 'object',
  properties: { room: roomParam, messageId: { ...idString, description: 'Chat message id' } },
  required: ['room', 'messageId'],
  additionalProperties: false,
} as const;
const reasonBody = {
  type: 'object',
  properties: { reason: reasonString },
  additionalProperties: false,
  description: 'Optional; an empty or absent body is fine',
} as const;

const roomSummary = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    publishers: {
      type: 'array',
      items: { type: 'object', properties: { peerId: { type: 'string' }, name: { type: 'string' } }, required: ['peerId', 'name'] },
    },
    viewers: { type: 'integer', description: 'Peers not on stage' },
    peers: { type: 'integer' },
    workers: { type: 'array', items: { type: 'integer' }, description: 'Indexes of the mediasoup workers holding a router of this room' },
    chatMessages: { type: 'integer', description: 'Chat messages kept in history' },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'publishers', 'viewers', 'peers', 'workers', 'chatMessages', 'createdAt'],
} as const;

const participant = {
  type: 'object',
  properties: {
    peerId: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['publisher', 'viewer', 'admin'] },
    onStage: { type: 'boolean' },
    producers: { type: 'integer' },
    consumers: { type: 'integer' },
    recvWorker: { type: 'integer', nullable: true, description: 'Worker index of the router this peer receives from; null before its first recv transport' },
    joinedAt: { type: 'string', format: 'date-time' },
  },
  required: ['peerId', 'name', 'role', 'onStage', 'producers', 'consumers', 'recvWorker', 'joinedAt'],
} as const;

const roomDetail = {
  type: 'object',
  properties: {
    ...roomSummary.properties,
    chat: { type: 'object', properties: { messages: { type: 'integer' }, lastSeq: { type: 'integer' } }, required: ['messages', 'lastSeq'] },
    participants: { type: 'array', items: participant },
    routers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          worker: { type: 'integer' },
          viewers: { type: 'integer', description: 'Peers receiving from this router' },
          origin: { type: 'boolean', description: 'Publishers send to this router; absent while it is being re-created' },
        },
        required: ['worker', 'viewers'],
      },
    },
  },
  required: [...roomSummary.required, 'chat', 'participants', 'routers'],
} as const;

const removedPeer = {
  type: 'object',
  properties: { room: { type: 'string' }, peerId: { type: 'string' }, banned: { type: 'boolean' } },
  required: ['room', 'peerId', 'banned'],
} as const;

const workerStats = {
  type: 'object',
  properties: {
    index: { type: 'integer' },
    pid: { type: 'integer' },
    port: { type: 'integer', description: 'UDP and TCP port of the worker’s WebRtcServer' },
    up: { type: 'boolean' },
    consumers: { type: 'integer' },
    routers: { type: 'integer' },
    transports: { type: 'integer', description: 'WebRTC transports' },
    cpu: { type: 'number', description: 'Share of one core over the last sample (0..1+)' },
    resourceUsage: {
      type: 'object',
      nullable: true,
      description: 'getrusage() of the worker process (mediasoup units); null when the worker is down',
      properties: {
        ru_utime: { type: 'number', description: 'User CPU time, ms' },
        ru_stime: { type: 'number', description: 'System CPU time, ms' },
        ru_maxrss: { type: 'number', description: 'Peak resident set size, KiB' },
      },
      required: ['ru_utime', 'ru_stime', 'ru_maxrss'],
    },
  },
  required: ['index', 'pid', 'port', 'up', 'consumers', 'routers', 'transports', 'cpu', 'resourceUsage'],
} as const;

const workerBinary = {
  type: 'object',
  description: 'The mediasoup-worker binary every worker of this node runs, and where it came from (scripts/mediasoup-worker/build.sh records it next to the binary)',
  properties: {
    path: { type: 'string', description: 'Binary mediasoup spawns (MEDIASOUP_WORKER_BIN, else node_modules/mediasoup/worker/out/Release/mediasoup-worker)' },
    origin: {
      type: 'string',
      enum: ['prebuilt', 'source', 'unknown'],
      description: 'prebuilt: upstream mediasoup download; source: built here against Debian libraries; unknown: no origin record, or one for another file',
    },
    mediasoupVersion: { type: 'string', description: 'mediasoup version the binary was obtained for (the installed package version when the origin is unknown)' },
    sha256: { type: 'string', description: 'sha256 of the binary file; absent when it cannot be read' },
    cacheKey: { type: 'string', description: 'Worker cache entry it was installed from' },
  },
  required: ['path', 'origin', 'mediasoupVersion'],
} as const;

const tokenBody = {
  type: 'object',
  properties: {
    role: { type: 'string', enum: ['publisher', 'viewer', 'admin'] },
    room: { type: 'string', pattern: `${ROOM_PATTERN}|^\\*$`, description: 'Room id, or "*" (every room) for an admin token' },
    name: { type: 'string', minLength: 1, maxLength: 32, description: 'Display name' },
    ttlSeconds: { type: 'integer', minimum: TOKEN_TTL.min, maximum: TOKEN_TTL.max, default: TOKEN_TTL.default },
  },
  required: ['role', 'room', 'name'],
  additionalProperties: false,
} as const;

const mintedToken = {
  type: 'object',
  properties: {
    token: { type: 'string' },
    role: { type: 'string' },
    room: { type: 'string' },
    name: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
    links: {
      type: 'object',
      properties: {
        broadcast: { type: 'string', description: 'Broadcast page (publisher and admin tokens)' },
        watch: { type: 'string', description: 'Watch page' },
      },
      required: ['watch'],
    },
  },
  required: ['token', 'role', 'room', 'name', 'expiresAt', 'links'],
} as const;

const TAG = 'admin';
const security = [{ [ADMIN_SECURITY_SCHEME]: [] }];

/**
 * Route options: the schema with its OpenAPI summary, tag and security. With
 * a body schema, an absent body counts as `{}` and unknown fields are refused
 * by name (Fastify's validator would silently drop them, so a typo such as
 * `ttl` would mint a token with the default lifetime).
 */
const route = <S extends object>(summary: string, schema: S, body?: { properties: object }) => {
  const options = { schema: { summary, tags: [TAG], security, ...schema, ...(body ? { body } : {}) } };
  if (!body) return options;
  const allowed = Object.keys(body.properties);
  const preValidation = async (req: FastifyRequest) => {
    if (req.body === undefined) req.body = {};
    else if (typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body)) {
      const unknown = Object.keys(req.body).filter((k) => !allowed.includes(k));
      if (unknown.length) {
        throw new ProtocolError('bad-request', `body has unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: ${allowed.join(', ')}`);
      }
    }
  };
  return { ...options, preValidation };
};

// ---- types of validated input ---------------------------------------------------------

interface RoomParams {
  room: string;
}
interface PeerParams extends RoomParams {
  peerId: string;
}
interface MessageParams extends RoomParams {
  messageId: string;
}
interface ReasonBody {
  reason?: string;
}
interface TokenBody {
  role: string;
  room: string;
  name: string;
  ttlSeconds: number;
}

// ---- plugin ---------------------------------------------------------------------------

const STATUS_BY_CODE: Partial<Record<ProtocolError['code'], number>> = { 'not-found': 404, forbidden: 403, 'bad-request': 400 };

/**
 * `/admin/*`: operator routes behind `Authorization: Bearer <ADMIN_TOKEN>`.
 * Registered with full paths: use no prefix. Encapsulated, so its auth hook
 * and error handler apply to these routes only. The check runs in
 * `onRequest`, before any body is read, so an unauthorised call changes nothing.
 */
export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, opts) => {
  const authorised = bearerChecker(opts.token, 'admin token');
  const { rooms, pool, tokens } = opts;
  const binaryInfo = opts.workerBinary ?? (() => describeWorkerBinary());

  app.addHook('onRequest', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if (authorised(req.headers.authorization)) return;
    reply.header('www-authenticate', 'Bearer realm="admin"');
    return reply.code(401).send({ error: 'unauthorized', message: `${req.method} ${req.routeOptions.url ?? req.url} needs Authorization: Bearer <ADMIN_TOKEN>.` });
  });

  app.setErrorHandler((err: FastifyError | ProtocolError, req, reply) => {
    if (err instanceof ProtocolError) {
      return reply.code(STATUS_BY_CODE[err.code] ?? 409).send({ error: err.code, message: err.message });
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'bad-request', message: err.message });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Body parser refusals (empty or invalid JSON, wrong content type, too large).
      const error = status === 400 ? 'bad-request' : status === 413 ? 'too-large' : status === 415 ? 'unsupported-media-type' : 'refused';
      return reply.code(status).send({ error, message: err.message });
    }
    req.log.error({ err }, 'admin route failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the server log' });
  });

  const roomOf = (id: string): Room => {
    const room = rooms.get(id);
    if (!room || room.closed) throw new ProtocolError('not-found', `no room "${id}" on this node`);
    return room;
  };

  const summary = (room: Room) => ({
    id: room.id,
    publishers: room.publishers.map((p) => ({ peerId: p.id, name: p.name })),
    viewers: room.viewerCount,
    peers: room.peers.size,
    workers: [...new Set(room.media.all().map((rr) => rr.workerIndex))].sort((a, b) => a - b),
    chatMessages: room.chat.size,
    createdAt: new Date(room.createdAt).toISOString(),
  });

  app.get(
    '/admin/rooms',
    route('List the rooms of this node', {
      response: { 200: { type: 'object', properties: { rooms: { type: 'array', items: roomSummary } }, required: ['rooms'] }, ...errors },
    }),
    async () => ({ rooms: [...rooms.rooms.values()].filter((r) => !r.closed).map(summary) }),
  );

  app.get<{ Params: RoomParams }>(
    '/admin/rooms/:room',
    route('One room: participants and routers', { params: roomParams, response: { 200: roomDetail, ...errors } }),
    async (req) => {
      const room = roomOf(req.params.room);
      // The origin is re-created after its worker died: do not wait for that here.
      const origin = await Promise.race([room.media.origin().catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 200).unref())]);
      return {
        ...summary(room),
        chat: { messages: room.chat.size, lastSeq: room.chat.lastSeq },
        participants: [...room.peers.values()].map((p) => ({
          peerId: p.id,
          name: p.name,
          role: p.role,
          onStage: p.onStage,
          producers: p.producers.size,
          consumers: p.consumers.size,
          recvWorker: p.recvRouter?.workerIndex ?? null,
          joinedAt: new Date(p.joinedAt).toISOString(),
        })),
        routers: room.media.all().map((rr) => ({ worker: rr.workerIndex, viewers: rr.viewers, ...(origin ? { origin: rr === origin } : {}) })),
      };
    },
  );

  app.delete<{ Params: RoomParams; Querystring: ReasonBody }>(
    '/admin/rooms/:room',
    route('Close a room: every client gets `closing` (room-closed) and is disconnected', {
      params: roomParams,
      querystring: { type: 'object', properties: { reason: reasonString }, additionalProperties: false },
      response: {
        200: { type: 'object', properties: { room: { type: 'string' }, closed: { type: 'boolean' }, peers: { type: 'integer' } }, required: ['room', 'closed', 'peers'] },
        ...errors,
      },
    }),
    async (req) => {
      const room = roomOf(req.params.room);
      const peers = room.peers.size;
      req.log.info({ room: room.id, peers }, 'admin: closing room');
      room.close(req.query.reason ?? 'closed by an operator');
      return { room: room.id, closed: true, peers };
    },
  );

  const removal = (ban: boolean) => async (req: FastifyRequest<{ Params: PeerParams; Body: ReasonBody | undefined }>) => {
    const room = roomOf(req.params.room);
    req.log.info({ room: room.id, target: req.params.peerId, ban }, ban ? 'admin: ban' : 'admin: kick');
    room.kick(req.params.peerId, { ban, reason: req.body?.reason });
    return { room: room.id, peerId: req.params.peerId, banned: ban };
  };

  app.post<{ Params: PeerParams; Body: ReasonBody | undefined }>(
    '/admin/rooms/:room/peers/:peerId/kick',
    route('Remove a peer (`closing` kicked, socket code 4001); it may come back', { params: peerParams, response: { 200: removedPeer, ...errors } }, reasonBody),
    removal(false),
  );

  app.post<{ Params: PeerParams; Body: ReasonBody | undefined }>(
    '/admin/rooms/:room/peers/:peerId/ban',
    route('Remove a peer and ban its token (or address) from the room', { params: peerParams, response: { 200: removedPeer, ...errors } }, reasonBody),
    removal(true),
  );

  // Bans outlive their room, so the room need not be open to lift them.
  app.delete<{ Params: RoomParams }>(
    '/admin/rooms/:room/bans',
    route('Lift every ban of a room (tokens and addresses), open or not', {
      params: roomParams,
      response: { 200: { type: 'object', properties: { room: { type: 'string' }, lifted: { type: 'integer' } }, required: ['room', 'lifted'] }, ...errors },
    }),
    async (req) => {
      const lifted = rooms.bans.clear(req.params.room);
      req.log.info({ room: req.params.room, lifted }, 'admin: bans lifted');
      return { room: req.params.room, lifted };
    },
  );

  app.post<{ Params: PeerParams }>(
    '/admin/rooms/:room/peers/:peerId/mute',
    route('Pause every audio producer of a publisher (viewers get `producerPaused`)', {
      params: peerParams,
      response: { 200: { type: 'object', properties: { muted: { type: 'integer', description: 'Audio producers paused now' } }, required: ['muted'] }, ...errors },
    }),
    async (req) => {
      const room = roomOf(req.params.room);
      const peer = room.peers.get(req.params.peerId);
      if (!peer) throw new ProtocolError('not-found', `no peer ${req.params.peerId} in room "${room.id}"`);
      const muted = await room.mute(peer);
      req.log.info({ room: room.id, target: peer.id, muted }, 'admin: mute');
      return { muted };
    },
  );

  app.delete<{ Params: RoomParams }>(
    '/admin/rooms/:room/chat',
    route('Clear the room’s chat history (clients get `chatCleared`)', {
      params: roomParams,
      response: { 200: { type: 'object', properties: { room: { type: 'string' }, seq: { type: 'integer' } }, required: ['room', 'seq'] }, ...errors },
    }),
    async (req) => {
      const room = roomOf(req.params.room);
      room.clearChat();
      req.log.info({ room: room.id }, 'admin: chat cleared');
      return { room: room.id, seq: room.chat.lastSeq };
    },
  );

  app.delete<{ Params: MessageParams }>(
    '/admin/rooms/:room/chat/:messageId',
    route('Delete one chat message (clients get `chatDeleted`)', {
      params: messageParams,
      response: {
        200: { type: 'object', properties: { room: { type: 'string' }, messageId: { type: 'string' }, seq: { type: 'integer' } }, required: ['room', 'messageId', 'seq'] },
        ...errors,
      },
    }),
    async (req) => {
      const room = roomOf(req.params.room);
      room.deleteChat(req.params.messageId);
      req.log.info({ room: room.id, message: req.params.messageId }, 'admin: chat message deleted');
      return { room: room.id, messageId: req.params.messageId, seq: room.chat.lastSeq };
    },
  );

  app.get(
    '/admin/workers',
    route('mediasoup workers: load and resource usage, and the worker binary they run', {
      response: {
        200: { type: 'object', properties: { workers: { type: 'array', items: workerStats }, binary: workerBinary }, required: ['workers', 'binary'] },
        ...errors,
      },
    }),
    async () => ({
      binary: await binaryInfo(),
      workers: await Promise.all(
        pool.workers.map(async (w) => {
          const ru = w.closed ? null : await w.worker.getResourceUsage().catch(() => null);
          return {
            index: w.index,
            pid: w.pid,
            port: w.port,
            up: !w.closed,
            consumers: w.consumers,
            routers: w.routers,
            transports: w.transports,
            cpu: w.cpu,
            resourceUsage: ru && { ru_utime: ru.ru_utime, ru_stime: ru.ru_stime, ru_maxrss: ru.ru_maxrss },
          };
        }),
      ),
    }),
  );

  app.post<{ Body: TokenBody }>(
    '/admin/tokens',
    route('Mint an access token, with the links it opens', { response: { 201: { ...mintedToken, description: 'The token and its links' }, ...errors } }, tokenBody),
    async (req, reply: FastifyReply) => {
      const checked = checkGrantRequest(req.body);
      if (!checked.ok) throw new ProtocolError('bad-request', checked.message);
      const { grant } = checked;
      const token = await tokens.mint(grant);
      const { exp } = await tokens.verify(token);
      const base = opts.publicUrl?.() ?? `${req.protocol}://${req.host}`;
      req.log.info({ role: grant.role, room: grant.room, name: grant.name, ttlSeconds: grant.ttlSeconds }, 'admin: token minted');
      return reply.code(201).send({
        token,
        role: grant.role,
        room: grant.room,
        name: grant.name,
        expiresAt: new Date(exp * 1000).toISOString(),
        links: accessLinks(base, grant, token),
      });
    },
  );
};
