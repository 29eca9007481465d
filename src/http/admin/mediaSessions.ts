import type { FastifyPluginAsync } from 'fastify';
import { ProtocolError } from '../../protocol/messages.js';
import type { MediaSessions } from '../../whip/sessions.js';
import { errors, roomParam, route } from './schemas.js';

export interface MediaSessionRoutesOptions {
  sessions: Pick<MediaSessions, 'list' | 'get'>;
}

const session = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    protocol: { type: 'string', enum: ['whip', 'whep'] },
    room: { type: 'string', nullable: true },
    peerId: { type: 'string', nullable: true, description: 'The participant the session is in its room' },
    createdAt: { type: 'string', format: 'date-time' },
    iceState: { type: 'string', nullable: true },
    dtlsState: { type: 'string', nullable: true },
  },
  required: ['id', 'protocol', 'room', 'peerId', 'createdAt', 'iceState', 'dtlsState'],
} as const;

/** WHIP encoders and WHEP players of this node: list them, end one (an encoder that went astray). */
export const mediaSessionRoutes: FastifyPluginAsync<MediaSessionRoutesOptions> = async (app, { sessions }) => {
  app.get<{ Querystring: { room?: string } }>(
    '/admin/whip',
    route('WHIP and WHEP sessions on this node; ?room= for one room', {
      querystring: { type: 'object', properties: { room: roomParam }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { sessions: { type: 'array', items: session } }, required: ['sessions'] }, ...errors },
    }),
    async (req) => ({
      sessions: sessions
        .list()
        .filter((s) => req.query.room === undefined || s.room === req.query.room)
        .map((s) => ({ ...s, room: s.room ?? null, peerId: s.peerId ?? null, iceState: s.iceState ?? null, dtlsState: s.dtlsState ?? null, createdAt: new Date(s.createdAt).toISOString() })),
    }),
  );

  app.delete<{ Params: { sessionId: string } }>(
    '/admin/whip/:sessionId',
    route('End a WHIP or WHEP session (its participant leaves the room); 404 when there is none', {
      params: { type: 'object', properties: { sessionId: { type: 'string', format: 'uuid' } }, required: ['sessionId'], additionalProperties: false },
      response: { 200: { type: 'object', properties: { id: { type: 'string' }, ended: { type: 'boolean' } }, required: ['id', 'ended'] }, ...errors },
    }),
    async (req) => {
      const s = sessions.get(req.params.sessionId);
      if (!s) throw new ProtocolError('not-found', `no WHIP or WHEP session ${req.params.sessionId} on this node`);
      req.log.info({ session: s.id, protocol: s.protocol, room: s.room?.id }, 'admin: WHIP/WHEP session ended');
      s.close('removed');
      return { id: s.id, ended: true };
    },
  );
};
