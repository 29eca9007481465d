import type { FastifyPluginAsync } from 'fastify';
import { ProtocolError } from '../../protocol/messages.js';
import type { RoomManager } from '../../rooms/roomManager.js';
import { errors, idString, roomParam, route } from './schemas.js';

export interface CallRoutesOptions {
  rooms: Pick<RoomManager, 'rooms'>;
}

const party = { type: 'object', properties: { peerId: { type: 'string' }, name: { type: 'string' } }, required: ['peerId', 'name'] } as const;
const call = {
  type: 'object',
  properties: {
    callId: { type: 'string' },
    room: { type: 'string' },
    state: { type: 'string', enum: ['ringing', 'active'] },
    video: { type: 'boolean' },
    startedAt: { type: 'string', format: 'date-time' },
    answeredAt: { type: 'string', format: 'date-time', nullable: true },
    caller: party,
    callee: party,
    worker: { type: 'integer', nullable: true, description: 'Worker of the call’s router; null before either side asked for media' },
  },
  required: ['callId', 'room', 'state', 'video', 'startedAt', 'answeredAt', 'caller', 'callee', 'worker'],
} as const;

/** Private calls of this node's participants: list them, end one (both sides get `callEnded` ended-by-admin). */
export const callRoutes: FastifyPluginAsync<CallRoutesOptions> = async (app, { rooms }) => {
  const open = () => [...rooms.rooms.values()].filter((r) => !r.closed);

  app.get<{ Querystring: { room?: string } }>(
    '/admin/calls',
    route('Private calls on this node, ringing or active; ?room= for one room', {
      querystring: { type: 'object', properties: { room: roomParam }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { calls: { type: 'array', items: call } }, required: ['calls'] }, ...errors },
    }),
    async (req) => ({
      calls: open()
        .filter((r) => req.query.room === undefined || r.id === req.query.room)
        .flatMap((r) => r.calls.list())
        .map((c) => ({ ...c, startedAt: new Date(c.startedAt).toISOString(), answeredAt: c.answeredAt === null ? null : new Date(c.answeredAt).toISOString() })),
    }),
  );

  app.delete<{ Params: { callId: string } }>(
    '/admin/calls/:callId',
    route('End a call for both sides (`callEnded` ended-by-admin); 404 when there is no such call', {
      params: { type: 'object', properties: { callId: idString }, required: ['callId'], additionalProperties: false },
      response: { 200: { type: 'object', properties: { callId: { type: 'string' }, ended: { type: 'boolean' } }, required: ['callId', 'ended'] }, ...errors },
    }),
    async (req) => {
      const room = open().find((r) => r.calls.list().some((c) => c.callId === req.params.callId));
      if (!room?.calls.endById(req.params.callId)) throw new ProtocolError('not-found', `no call ${req.params.callId} on this node`);
      req.log.info({ room: room.id, call: req.params.callId }, 'admin: call ended');
      return { callId: req.params.callId, ended: true };
    },
  );
};
