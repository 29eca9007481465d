import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { RoomManager } from '../../rooms/roomManager.js';
import type { Room } from '../../rooms/room.js';
import type { RoomSnapshot } from '../../rooms/snapshot.js';
import { ProtocolError } from '../../protocol/messages.js';
import { errors, idString, reasonBody, reasonString, roomParam, roomParams, route, type ReasonBody, type RoomParams } from './schemas.js';

export interface RoomRoutesOptions {
  rooms: Pick<RoomManager, 'rooms' | 'get'>;
}

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

const roomSummary = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    publishers: {
      type: 'array',
      items: {
        type: 'object',
        properties: { peerId: { type: 'string' }, name: { type: 'string' }, relay: { type: 'boolean', description: 'Cluster mode: a broadcaster of the room’s origin node, relayed to this one' } },
        required: ['peerId', 'name', 'relay'],
      },
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
          viewers: { type: 'integer', description: 'Peers of this node receiving from this router' },
          edges: { type: 'integer', description: 'Cluster: edge nodes whose pipe for this room hangs on this router (the origin spreads them over its workers)' },
          origin: { type: 'boolean', description: 'Publishers send to this router (false for every router while the origin is being re-created)' },
        },
        required: ['worker', 'viewers', 'edges'],
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

interface PeerParams extends RoomParams {
  peerId: string;
}
interface MessageParams extends RoomParams {
  messageId: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The list entry of a room: everything but its participants. */
function summary(s: RoomSnapshot) {
  return {
    id: s.id,
    publishers: s.publishers,
    viewers: s.viewers,
    peers: s.peers,
    workers: [...new Set(s.routers.map((r) => r.worker))].sort((a, b) => a - b),
    chatMessages: s.chat.messages,
    createdAt: iso(s.createdAt),
  };
}

/** One room in full; participants' producers are counted, as before the snapshot existed. */
function detail(s: RoomSnapshot) {
  return {
    ...summary(s),
    chat: { messages: s.chat.messages, lastSeq: s.chat.lastSeq },
    participants: (s.participants ?? []).map((p) => ({
      peerId: p.peerId,
      name: p.name,
      role: p.role,
      onStage: p.onStage,
      producers: p.producers.length,
      consumers: p.consumers,
      recvWorker: p.recvWorker,
      joinedAt: iso(p.joinedAt),
    })),
    routers: s.routers.map((r) => ({ worker: r.worker, viewers: r.viewers, edges: r.edges, origin: r.origin })),
  };
}

/**
 * Rooms: read through `Room.describe()` (a snapshot, never the live peers),
 * acted on through the room and its parts (close; moderation: kick, ban, mute; chat).
 */
export const roomRoutes: FastifyPluginAsync<RoomRoutesOptions> = async (app, { rooms }) => {
  const roomOf = (id: string): Room => {
    const room = rooms.get(id);
    if (!room || room.closed) throw new ProtocolError('not-found', `no room "${id}" on this node`);
    return room;
  };

  app.get(
    '/admin/rooms',
    route('List the rooms of this node', {
      response: { 200: { type: 'object', properties: { rooms: { type: 'array', items: roomSummary } }, required: ['rooms'] }, ...errors },
    }),
    async () => ({ rooms: [...rooms.rooms.values()].filter((r) => !r.closed).map((r) => summary(r.describe({ participants: false }))) }),
  );

  app.get<{ Params: RoomParams }>(
    '/admin/rooms/:room',
    route('One room: participants and routers', { params: roomParams, response: { 200: roomDetail, ...errors } }),
    async (req) => detail(roomOf(req.params.room).describe()),
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
      const { peers } = room.describe({ participants: false });
      req.log.info({ room: room.id, peers }, 'admin: closing room');
      room.close(req.query.reason ?? 'closed by an operator');
      return { room: room.id, closed: true, peers };
    },
  );

  const removal = (ban: boolean) => async (req: FastifyRequest<{ Params: PeerParams; Body: ReasonBody | undefined }>) => {
    const room = roomOf(req.params.room);
    req.log.info({ room: room.id, target: req.params.peerId, ban }, ban ? 'admin: ban' : 'admin: kick');
    room.moderation.kick(req.params.peerId, { ban, reason: req.body?.reason });
    return { room: room.id, peerId: req.params.peerId, banned: ban };
  };

  app.post<{ Params: PeerParams; Body: ReasonBody | undefined }>(
    '/admin/rooms/:room/peers/:peerId/kick',
    route('Remove a peer (`closing` kicked, socket code 4001); it may come back', { params: peerParams, response: { 200: removedPeer, ...errors } }, reasonBody),
    removal(false),
  );

  app.post<{ Params: PeerParams; Body: ReasonBody | undefined }>(
    '/admin/rooms/:room/peers/:peerId/ban',
    route(
      'Remove a peer and ban it from the room for BAN_SECONDS: its token id and its address (an anonymous viewer: its address). The ban outlives the room; see GET /admin/bans to list and lift it',
      { params: peerParams, response: { 200: removedPeer, ...errors } },
      reasonBody,
    ),
    removal(true),
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
      const muted = await room.moderation.mute(peer);
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
      const { seq } = await room.chat.clear();
      req.log.info({ room: room.id }, 'admin: chat cleared');
      return { room: room.id, seq };
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
      const { seq } = await room.chat.delete(req.params.messageId);
      req.log.info({ room: room.id, message: req.params.messageId }, 'admin: chat message deleted');
      return { room: room.id, messageId: req.params.messageId, seq };
    },
  );
};
