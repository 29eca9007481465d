import type { FastifyPluginAsync } from 'fastify';
/** The protocol's room names (`roomName` in protocol/messages.ts). */
const ROOM_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

export interface StageNodeOptions {
  /**
   * Cluster mode: the HTTP base URL of the node that holds `room`'s stage when that is
   * another live node; undefined when it is this one, nobody, or the node runs alone.
   */
  stageNode: (room: string) => Promise<string | undefined>;
}

/**
 * `GET /api/stage-node?room=`: where a broadcaster of the room belongs. A room's
 * broadcasters all live on its origin node (viewers of other nodes get them through the
 * cascade); the broadcaster page asks before it connects and moves there when needed.
 */
export const stageNodeRoutes: FastifyPluginAsync<StageNodeOptions> = async (app, opts) => {
  app.get<{ Querystring: { room: string } }>(
    '/api/stage-node',
    {
      schema: {
        querystring: { type: 'object', properties: { room: { type: 'string', pattern: ROOM_PATTERN } }, required: ['room'], additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: { httpUrl: { type: ['string', 'null'], description: 'The node to broadcast from, or null: this one' } },
            required: ['httpUrl'],
          },
        },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return { httpUrl: (await opts.stageNode(req.query.room).catch(() => undefined)) ?? null };
    },
  );
};
