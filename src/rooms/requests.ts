import { ProtocolError, type Method, type ParsedRequest, type ResponseData } from '../protocol/messages.js';
import type { Peer } from './peer.js';
import type { Room } from './room.js';

type Handler<M extends Method> = (room: Room, peer: Peer, data: Extract<ParsedRequest, { method: M }>['data']) => Promise<ResponseData[M]> | ResponseData[M];
type Handlers = { [M in Exclude<Method, 'join' | 'leave' | 'reportFirstFrame' | 'mintGuestLink'>]: Handler<M> };

const none = {} as Record<string, never>;

/** Maps each joined-peer request of the protocol onto the room operation it names. */
const handlers: Handlers = {
  setRtpCapabilities: (room, peer, d) => (room.setRtpCapabilities(peer, d), none),
  createTransport: (room, peer, d) => room.createTransport(peer, d),
  connectTransport: async (room, peer, d) => (await room.connectTransport(peer, d), none),
  restartIce: (room, peer, d) => room.restartIce(peer, d),
  produce: (room, peer, d) => room.produce(peer, d),
  closeProducer: (room, peer, d) => (room.closeProducer(peer, d), none),
  pauseProducer: async (room, peer, d) => (await room.setProducerPaused(peer, d.producerId, true), none),
  resumeProducer: async (room, peer, d) => (await room.setProducerPaused(peer, d.producerId, false), none),
  consume: (room, peer, d) => room.consume(peer, d),
  resumeConsumer: async (room, peer, d) => (await room.setConsumerPaused(peer, d.consumerId, false), none),
  pauseConsumer: async (room, peer, d) => (await room.setConsumerPaused(peer, d.consumerId, true), none),
  setPreferredLayers: async (room, peer, d) => (await room.setPreferredLayers(peer, d), none),
  requestKeyFrame: async (room, peer, d) => (await room.requestKeyFrame(peer, d), none),
  chatSend: (room, peer, d) => room.sendChat(peer, d.text),
  chatSync: (room, _peer, d) => room.syncChat(d.since, d.epoch),
  chatDelete: (room, peer, d) => (room.deleteChat(d.messageId, peer), none),
  chatClear: (room, peer) => (room.clearChat(peer), none),
  kick: (room, peer, d) => (room.kick(d.peerId, { by: peer, reason: d.reason }), none),
  ban: (room, peer, d) => (room.kick(d.peerId, { by: peer, ban: true, reason: d.reason }), none),
};

export function handleRoomRequest(room: Room, peer: Peer, req: ParsedRequest): Promise<unknown> | unknown {
  const handler = (handlers as Record<string, Handler<Method> | undefined>)[req.method];
  if (!handler) throw new ProtocolError('invalid-state', `${req.method} is not handled here`);
  return (handler as Handler<Method>)(room, peer, req.data as never);
}
