import type { FastifyPluginAsync } from 'fastify';
import { AccessRefused, authorise, type AccessPolicy } from '../auth/access.js';
import { normaliseAddress } from './clientAddress.js';

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

/**
 * `POST /api/access`: would this link be let in? The WebSocket upgrade gives
 * the same answer, but a browser cannot read why an upgrade was refused, so a
 * page whose socket never opened asks here and tells the person (expired,
 * forged, wrong room, banned). A POST body keeps the token out of access logs.
 */
export const accessRoutes: FastifyPluginAsync<{ access: AccessPolicy }> = async (app, opts) => {
  app.post<{ Body: { room?: string; token?: string } }>(
    '/api/access',
    {
      schema: {
        summary: 'Checks a link (room and token) the way the WebSocket upgrade does',
        tags: ['public'],
        body: {
          type: 'object',
          properties: { room: { type: 'string', maxLength: 64 }, token: { type: 'string', maxLength: 4096 } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { role: { type: 'string', enum: ['publisher', 'viewer', 'admin'] }, room: { type: 'string' }, name: { type: 'string' } },
            required: ['role', 'room'],
          },
          400: errorBody,
          401: errorBody,
          403: errorBody,
          429: errorBody,
          503: errorBody,
        },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      try {
        const grant = await authorise({ room: req.body.room ?? null, token: req.body.token ?? null, remote: normaliseAddress(req.ip) }, opts.access);
        return { role: grant.role, room: grant.room, ...(grant.name ? { name: grant.name } : {}) };
      } catch (err) {
        if (err instanceof AccessRefused) return reply.code(err.status).send({ error: err.code, message: err.message });
        throw err;
      }
    },
  );
};
