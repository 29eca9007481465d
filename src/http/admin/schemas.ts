import type { FastifyRequest } from 'fastify';
import { ProtocolError } from '../../protocol/messages.js';

/**
 * JSON schemas shared by every operator route. The error body is added once
 * to the admin scope (`addSchema`, index.ts) and referenced by `$ref`; the
 * parameter and body fragments are spread into the routes that use them.
 */

/** Name of the OpenAPI security scheme the admin routes declare (see app.ts). */
export const ADMIN_SECURITY_SCHEME = 'adminBearer';

/** Every refusal of an admin route: `{ error, message }`, `error` a short code. */
export const errorSchema = {
  $id: 'AdminError',
  type: 'object',
  description: 'What went wrong (`error`, a short code) and what to do (`message`)',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

const errorRef = (description: string) => ({ $ref: 'AdminError#', description }) as const;

/** The error responses every admin route may give. */
export const errors = {
  400: errorRef('Malformed parameters or body'),
  401: errorRef('Missing or wrong admin token'),
  403: errorRef('Not allowed'),
  404: errorRef('Unknown room, peer, ban or message'),
  409: errorRef('Not possible in the current state'),
  503: errorRef('The media server is full (server-busy) or not answering (media-unavailable); retry later'),
} as const;

export const ROOM_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const idString = { type: 'string', minLength: 1, maxLength: 64 } as const;
export const roomParam = { type: 'string', pattern: ROOM_PATTERN, description: 'Room id' } as const;
export const reasonString = { type: 'string', minLength: 1, maxLength: 200, description: 'Shown to the affected clients' } as const;

export const roomParams = { type: 'object', properties: { room: roomParam }, required: ['room'], additionalProperties: false } as const;
export const reasonBody = {
  type: 'object',
  properties: { reason: reasonString },
  additionalProperties: false,
  description: 'Optional; an empty or absent body is fine',
} as const;

export interface RoomParams {
  room: string;
}
export interface ReasonBody {
  reason?: string;
}

const TAG = 'admin';
const security = [{ [ADMIN_SECURITY_SCHEME]: [] }];

/**
 * Route options: the schema with its OpenAPI summary, tag and security. With
 * a body schema, an absent body counts as `{}` and unknown fields are refused
 * by name (Fastify's validator would silently drop them, so a typo such as
 * `ttl` would mint a token with the default lifetime).
 */
export const route = <S extends object>(summary: string, schema: S, body?: { properties: object }) => {
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
