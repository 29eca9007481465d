import type { FastifyPluginAsync } from 'fastify';
import { ProtocolError, invitationStates } from '../../protocol/messages.js';
import type { Room } from '../../rooms/room.js';
import type { RoomManager } from '../../rooms/roomManager.js';
import { errors, idString, roomParam, route, type RoomParams } from './schemas.js';

export interface StageRoutesOptions {
  rooms: Pick<RoomManager, 'get'>;
}

const person = { type: 'object', properties: { peerId: { type: 'string' }, name: { type: 'string' } }, required: ['peerId', 'name'] } as const;

const invitation = {
  type: 'object',
  properties: {
    invitationId: { type: 'string' },
    peerId: { type: 'string', description: 'The viewer invited' },
    name: { type: 'string' },
    from: person,
    video: { type: 'boolean', description: 'Camera too, not only the microphone' },
    state: { type: 'string', enum: invitationStates },
    expiresAt: { type: 'string', format: 'date-time' },
    refused: { type: 'string', description: 'Why the last accept was refused (the stage was full); the invitation stays open' },
  },
  required: ['invitationId', 'peerId', 'name', 'from', 'video', 'state', 'expiresAt'],
} as const;

const invitationParams = {
  type: 'object',
  properties: { room: roomParam, invitationId: idString },
  required: ['room', 'invitationId'],
  additionalProperties: false,
} as const;
const peerParams = { type: 'object', properties: { room: roomParam, peerId: idString }, required: ['room', 'peerId'], additionalProperties: false } as const;

const done = { type: 'object', properties: { room: { type: 'string' }, done: { type: 'boolean' } }, required: ['room', 'done'] } as const;

/**
 * Joining the stage with consent, as an operator sees it: a room's open invitations, raised
 * hands and guests; withdraw an invitation, send a guest back to the audience.
 */
export const stageRoutes: FastifyPluginAsync<StageRoutesOptions> = async (app, { rooms }) => {
  const roomOf = (id: string): Room => {
    const room = rooms.get(id);
    if (!room || room.closed) throw new ProtocolError('not-found', `no room "${id}" on this node`);
    return room;
  };

  app.get<{ Params: RoomParams }>(
    '/admin/rooms/:room/invitations',
    route('Open invitations to the stage, raised hands and guests on stage (viewers who accepted) of a room', {
      params: { type: 'object', properties: { room: roomParam }, required: ['room'], additionalProperties: false },
      response: {
        200: {
          type: 'object',
          properties: {
            invitations: { type: 'array', items: invitation },
            hands: { type: 'array', items: person },
            guests: {
              type: 'array',
              items: { type: 'object', properties: { ...person.properties, video: { type: 'boolean' }, published: { type: 'boolean' } }, required: ['peerId', 'name', 'video', 'published'] },
            },
          },
          required: ['invitations', 'hands', 'guests'],
        },
        ...errors,
      },
    }),
    async (req) => {
      const inv = roomOf(req.params.room).invitations;
      return {
        invitations: inv.list().map((i) => ({ ...i, expiresAt: new Date(i.expiresAt).toISOString() })),
        hands: inv.raisedHands(),
        guests: inv.guestList(),
      };
    },
  );

  app.delete<{ Params: RoomParams & { invitationId: string } }>(
    '/admin/rooms/:room/invitations/:invitationId',
    route('Withdraw an open invitation (the viewer gets `invitationClosed`, hosts `invitationChanged`); 404 when it is not open', {
      params: invitationParams,
      response: { 200: done, ...errors },
    }),
    async (req) => {
      const room = roomOf(req.params.room);
      if (!room.invitations.withdrawByAdmin(req.params.invitationId)) throw new ProtocolError('not-found', `no open invitation ${req.params.invitationId} in room "${room.id}"`);
      req.log.info({ room: room.id, invitation: req.params.invitationId }, 'admin: invitation withdrawn');
      return { room: room.id, done: true };
    },
  );

  app.post<{ Params: RoomParams & { peerId: string } }>(
    '/admin/rooms/:room/peers/:peerId/audience',
    route('Send a guest back to the audience: its producers close, its stage slot frees (`backToAudience` code sent-back); 404 when the peer is not a guest', {
      params: peerParams,
      response: { 200: done, ...errors },
    }),
    async (req) => {
      const room = roomOf(req.params.room);
      if (!room.invitations.sendBackByAdmin(req.params.peerId)) throw new ProtocolError('not-found', `no guest ${req.params.peerId} on the stage of room "${room.id}"`);
      req.log.info({ room: room.id, guest: req.params.peerId }, 'admin: guest sent back to the audience');
      return { room: room.id, done: true };
    },
  );
};
