import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import { AccessRefused, authorise, type AccessPolicy } from '../auth/access.js';
import { bearerChecker } from './bearer.js';
import { ProtocolError, type ErrorCode } from '../protocol/messages.js';
import type { TurnService } from '../turn/service.js';
import type { IceServer } from '../turn/types.js';
import { MAX_SDP_BYTES } from '../whip/sdp.js';
import { NegotiationError, readFragmentIce, writeRestartFragment } from '../whip/negotiate.js';
import type { MediaSessions } from '../whip/sessions.js';
import type { SessionProtocol } from '../whip/mediaSession.js';

export interface WhipRoutesOptions {
  sessions: MediaSessions;
  access: AccessPolicy;
  turn: TurnService;
  /** Cluster mode: the HTTP URL of the node holding the room's stage, when it is another node. */
  stageNode: (room: string) => Promise<string | undefined>;
  /** POSTs (new sessions) per client address per minute. */
  ratePerMinute: number;
  /** A request's outcome, by protocol and status (metrics). */
  onRequest?: (protocol: SessionProtocol, method: string, status: number) => void;
}

const SDP = 'application/sdp';
/** The protocol's room names (`roomName` in protocol/messages.ts). */
const ROOM_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const FRAGMENT = 'application/trickle-ice-sdpfrag';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  'bad-request': 400,
  forbidden: 403,
  'not-found': 404,
  'stage-full': 409,
  'in-use': 409,
  'invalid-state': 409,
  'rate-limited': 429,
  'server-busy': 503,
  'media-unavailable': 503,
  unavailable: 503,
  draining: 503,
};

/** Refused before a session exists: statuses a client retries later carry Retry-After. */
const RETRY_AFTER: Partial<Record<number, number>> = { 503: 10, 429: 30 };

/** CORS as RFC 9725 §4.2 asks: browsers' WHIP/WHEP clients read the Location, Link and ETag headers. */
function cors(reply: FastifyReply, methods: string): void {
  reply.header('access-control-allow-origin', '*');
  reply.header('access-control-allow-methods', methods);
  reply.header('access-control-allow-headers', 'Authorization, Content-Type, If-Match');
  reply.header('access-control-expose-headers', 'Location, Link, ETag, Accept-Patch, Accept-Post, Retry-After');
  reply.header('access-control-max-age', '600');
}

/** RFC 9725 §4.6: one `Link` per ICE server URL, credentials as link parameters. */
export function iceServerLinks(servers: IceServer[]): string[] {
  const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
  return servers.flatMap((s) =>
    s.urls.map((url) => `<${url}>; rel="ice-server"${s.username !== undefined && s.credential !== undefined ? `; username=${q(s.username)}; credential=${q(s.credential)}; credential-type="password"` : ''}`),
  );
}

/** Fastify parses JSON and text too: only the RFC's type is taken. */
function requireType(req: FastifyRequest, type: string): void {
  const got = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (got !== type) throw Object.assign(new Error(`the body must be ${type}, not ${got || 'untyped'}`), { statusCode: 415 });
}

function bearer(req: FastifyRequest): string | null {
  const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

/**
 * WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) on one shape:
 * `POST /whip/:room` and `POST /whep/:room` take an SDP offer and answer
 * `201 Created` with the SDP answer, the session's `Location`, its `ETag` and
 * the ICE servers as `Link` headers; `PATCH` on the session takes trickle
 * candidates (not needed: mediasoup is ICE-lite) and ICE restarts; `DELETE`
 * ends it. Registered with full paths: use no prefix.
 */
export const whipRoutes: FastifyPluginAsync<WhipRoutesOptions> = async (app, opts) => {
  // Sessions cost a transport each: a small budget of new ones per address, like TURN credentials.
  await app.register(fastifyRateLimit, {
    global: false,
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'rate-limited', message: `Too many new sessions from your address; retry in ${Math.max(1, Math.ceil(ctx.ttl / 1000))} s.` }),
  });
  app.addContentTypeParser([SDP, FRAGMENT], { parseAs: 'string', bodyLimit: MAX_SDP_BYTES }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    let status = 500;
    let code = 'internal';
    let message = 'internal error; see the server log';
    if (err instanceof NegotiationError || err instanceof AccessRefused) {
      status = err.status;
      code = err.code;
      message = err.message;
    } else if (err instanceof ProtocolError) {
      status = STATUS_BY_CODE[err.code] ?? 409;
      code = err.code;
      message = err.message;
    } else {
      const fe = err as FastifyError;
      if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
        status = fe.statusCode;
        code = status === 415 ? 'unsupported-media-type' : status === 413 ? 'too-large' : status === 429 ? 'rate-limited' : 'bad-request';
        message = status === 415 ? `the body must be ${req.method === 'PATCH' ? FRAGMENT : SDP} (Content-Type)` : fe.message;
      } else {
        req.log.error({ err }, 'WHIP/WHEP request failed');
      }
    }
    const retry = RETRY_AFTER[status];
    if (retry) reply.header('retry-after', String(retry));
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="fourcast"');
    return reply.code(status).send({ error: code, message });
  });

  // Every answer of this scope carries CORS, refusals included (a rate limit answers before the route's own hook).
  app.addHook('onRequest', async (_req, reply) => cors(reply, 'POST, PATCH, DELETE, OPTIONS'));

  app.addHook('onResponse', async (req, reply) => {
    const protocol = req.url.startsWith('/whep') ? 'whep' : 'whip';
    if (req.method !== 'OPTIONS') opts.onRequest?.(protocol, req.method, reply.statusCode);
  });

  for (const protocol of ['whip', 'whep'] as const) {
    const endpoint = `/${protocol}/:room`;
    const resource = `/${protocol}/:room/:session`;
    const name = protocol.toUpperCase();
    const roomParam = { type: 'object', properties: { room: { type: 'string', pattern: ROOM_PATTERN } }, required: ['room'] } as const;
    const sessionParams = { type: 'object', properties: { room: { type: 'string', pattern: ROOM_PATTERN }, session: { type: 'string', format: 'uuid' } }, required: ['room', 'session'] } as const;
    const doc = (summary: string, params: object) => ({ summary: `${name}: ${summary}`, tags: ['public'], params });

    app.options(endpoint, { schema: doc('CORS preflight; Accept-Post: application/sdp', roomParam) }, async (_req, reply) => {
      cors(reply, 'POST, OPTIONS');
      reply.header('accept-post', SDP);
      return reply.code(204).send();
    });

    app.post<{ Params: { room: string }; Body: string }>(
      endpoint,
      {
        schema: doc(protocol === 'whip' ? 'start broadcasting (body: application/sdp offer; Authorization: Bearer <broadcaster token>) → 201 application/sdp answer, Location, ETag, Link' : 'start watching the stage (body: application/sdp offer; Authorization: Bearer <viewer token> unless anonymous viewers are allowed) → 201 application/sdp answer, Location, ETag, Link', roomParam),
        config: { rateLimit: { max: opts.ratePerMinute, timeWindow: 60_000 } },
        onRequest: async (req, reply) => {
          cors(reply, 'POST, OPTIONS');
          reply.header('cache-control', 'no-store');
          // Before the body is parsed (Fastify would read JSON or text as such).
          requireType(req, SDP);
        },
      },
      async (req, reply) => {
        if (typeof req.body !== 'string' || req.body.length === 0) throw new NegotiationError(400, 'bad-sdp', `the body must be an SDP offer (Content-Type: ${SDP})`);
        const token = bearer(req);
        if (protocol === 'whip' && !token) throw new AccessRefused(401, 'token-required', 'WHIP needs Authorization: Bearer <broadcaster token> (the token of a broadcaster link).');
        // The WebSocket connection cap is not this resource's: sessions have their own per-address cap.
        const grant = await authorise({ room: req.params.room, token, remote: req.ip }, { ...opts.access, connectionsFull: undefined });
        // Cluster mode: a broadcaster goes where the room's stage is; so does a player when this node does not relay it yet.
        if (protocol === 'whip' || !opts.sessions.hasStage(grant.room)) {
          const owner = await opts.stageNode(grant.room);
          if (owner) return reply.code(307).header('location', new URL(req.url, owner).toString()).send();
        }
        const { session, answer } = await opts.sessions.open(protocol, grant, token ?? undefined, req.body, req.ip);
        const links = await opts.turn.credentials(session.id).then(
          (c) => iceServerLinks(c.iceServers),
          (err: Error) => {
            req.log.warn({ err: err.message }, `${name}: no ICE servers for the Link header`);
            return [];
          },
        );
        if (links.length > 0) reply.header('link', links);
        reply.header('location', `/${protocol}/${encodeURIComponent(grant.room)}/${session.id}`);
        reply.header('etag', session.etag!);
        reply.header('accept-patch', FRAGMENT);
        return reply.code(201).type(SDP).send(answer);
      },
    );

    app.options(resource, { schema: doc('CORS preflight of a session; Accept-Patch: application/trickle-ice-sdpfrag', sessionParams) }, async (_req, reply) => {
      cors(reply, 'PATCH, DELETE, OPTIONS');
      reply.header('accept-patch', FRAGMENT);
      return reply.code(204).send();
    });

    /** The session of this resource, for a client that holds its token (an anonymous WHEP session: its URL is the secret). */
    const sessionOf = (req: FastifyRequest<{ Params: { room: string; session: string } }>) => {
      const session = opts.sessions.get(req.params.session);
      if (!session || session.protocol !== protocol || session.room?.id !== req.params.room) {
        throw new ProtocolError('not-found', `no ${name} session ${req.params.session} in room ${req.params.room}`);
      }
      // The same token as the POST (RFC 9725 §4.5), even once expired: a show may outlast its token.
      if (session.token !== undefined && !bearerChecker(session.token)(req.headers.authorization)) {
        throw new AccessRefused(401, 'token-invalid', `this ${name} session needs the Authorization: Bearer token it was created with`);
      }
      return session;
    };

    app.patch<{ Params: { room: string; session: string }; Body: string }>(
      resource,
      {
        schema: doc('trickle ICE candidates (204) or an ICE restart (200, application/trickle-ice-sdpfrag); If-Match', sessionParams),
        onRequest: async (req, reply) => {
          cors(reply, 'PATCH, DELETE, OPTIONS');
          requireType(req, FRAGMENT);
        },
      },
      async (req, reply) => {
        const session = sessionOf(req);
        const ifMatch = req.headers['if-match'];
        const restart = readFragmentIce(typeof req.body === 'string' ? req.body : '');
        if (restart) {
          // RFC 9725 §4.4.2: an ICE restart comes with If-Match: "*"; a stale ETag is refused.
          if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== session.etag) return reply.code(412).send({ error: 'precondition-failed', message: 'If-Match does not name this session’s ICE session' });
          const iceParameters = await session.restartIce();
          const transport = session.transport!;
          reply.header('etag', session.etag!);
          return reply.code(200).type(FRAGMENT).send(writeRestartFragment({ iceParameters, iceCandidates: transport.iceCandidates }, session.firstSection!));
        }
        if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== session.etag) return reply.code(412).send({ error: 'precondition-failed', message: 'If-Match does not name this session’s ICE session' });
        // Trickled candidates are accepted and not needed: mediasoup is ICE-lite and learns the client's address from its checks.
        return reply.code(204).send();
      },
    );

    app.delete<{ Params: { room: string; session: string } }>(
      resource,
      { schema: doc('end the session (with the token of its POST)', sessionParams), onRequest: async (_req, reply) => cors(reply, 'PATCH, DELETE, OPTIONS') },
      async (req, reply) => {
        const session = sessionOf(req);
        session.close('deleted');
        return reply.code(200).send();
      },
    );

    app.route({
      method: ['GET', 'POST', 'PUT'],
      url: resource,
      schema: { hide: true },
      handler: async (_req, reply) => reply.code(405).header('allow', 'PATCH, DELETE, OPTIONS').send({ error: 'method-not-allowed', message: `a ${name} session takes PATCH (trickle ICE, ICE restart) and DELETE` }),
    });
  }
};
