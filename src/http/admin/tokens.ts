import type { FastifyPluginAsync } from 'fastify';
import type { TokenService } from '../../auth/tokens.js';
import { TOKEN_TTL, accessLinks, checkGrantRequest } from '../../auth/links.js';
import { ProtocolError } from '../../protocol/messages.js';
import { ROOM_PATTERN, errors, route } from './schemas.js';

export interface TokenRoutesOptions {
  tokens: Pick<TokenService, 'mint' | 'verify'>;
  /** Base URL people open, for the links of minted tokens; defaults to the request's own origin. */
  publicUrl?: (() => string | undefined) | undefined;
}

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

interface TokenBody {
  role: string;
  room: string;
  name: string;
  ttlSeconds: number;
}

/** `POST /admin/tokens`: mints an access token and the page links that carry it. */
export const tokenRoutes: FastifyPluginAsync<TokenRoutesOptions> = async (app, { tokens, publicUrl }) => {
  app.post<{ Body: TokenBody }>(
    '/admin/tokens',
    route('Mint an access token, with the links it opens', { response: { 201: { ...mintedToken, description: 'The token and its links' }, ...errors } }, tokenBody),
    async (req, reply) => {
      const checked = checkGrantRequest(req.body);
      if (!checked.ok) throw new ProtocolError('bad-request', checked.message);
      const { grant } = checked;
      const token = await tokens.mint(grant);
      const { exp } = await tokens.verify(token);
      const base = publicUrl?.() ?? `${req.protocol}://${req.host}`;
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
