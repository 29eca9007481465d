import type { AccessPolicy } from '../auth/access.js';
import type { Metrics } from '../metrics/metrics.js';
import { ProtocolError, type Method, type ParsedRequestData, type ResponseData } from '../protocol/messages.js';
import { visibleName } from '../protocol/names.js';
import * as media from '../rooms/mediaRequests.js';
import type { Peer } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import type { RoomManager } from '../rooms/roomManager.js';
import type { AddressLimits } from './addressLimits.js';
import type { Session } from './session.js';

/** What the handlers reach beyond the session. */
export interface DispatchContext {
  rooms: RoomManager;
  access: AccessPolicy;
  metrics: Metrics;
  limits: AddressLimits;
  /** True while the node drains: joins are refused. */
  isDraining: () => boolean;
}

type Result<M extends Method> = ResponseData[M] | Promise<ResponseData[M]>;
type Handler<M extends Method> = (session: Session, data: ParsedRequestData<M>, ctx: DispatchContext) => Result<M>;
type InRoom<M extends Method> = (room: Room, peer: Peer, data: ParsedRequestData<M>, ctx: DispatchContext, session: Session) => Result<M>;

/** A guest broadcaster link lasts one show unless the request says otherwise. */
const GUEST_LINK_TTL_SECONDS = 4 * 3600;

const none = {} as Record<string, never>;

/** Methods of a joined participant: refused with `not-joined` before `join`. */
function joined<M extends Method>(fn: InRoom<M>): Handler<M> {
  return (session, data, ctx) => {
    const { room, peer } = session;
    if (!room || !peer) throw new ProtocolError('not-joined', 'join first');
    return fn(room, peer, data, ctx, session);
  };
}

async function join(session: Session, data: ParsedRequestData<'join'>, ctx: DispatchContext): Promise<ResponseData['join']> {
  if (session.peer || session.joining) throw new ProtocolError('already-joined', 'this connection already joined');
  if (ctx.isDraining()) throw new ProtocolError('draining', 'this node is shutting down; reconnect shortly');
  const { grant } = session;
  // A token's name wins; a name the person typed must show something (not U+3164 alone).
  const typed = grant.name === undefined ? data.name : undefined;
  const asked = typed === undefined ? undefined : visibleName(typed);
  if (typed !== undefined && asked === undefined) throw new ProtocolError('bad-request', 'your name has no visible characters; choose another');
  const name = grant.name ?? asked ?? `Viewer ${Math.floor(Math.random() * 9000 + 1000)}`;
  session.joining = true;
  const entry = await ctx.rooms
    .join({
      roomId: grant.room,
      role: grant.role,
      name,
      address: session.remote,
      banKeys: session.banKeys,
      chatSince: data.chatSince,
      chatEpoch: data.chatEpoch,
      tokenId: grant.tokenId,
      takeOver: data.takeOver,
      link: session,
    })
    .finally(() => (session.joining = false));
  // Re-checked after the await: the socket may have closed meanwhile.
  if (session.closed) {
    entry.room.leave(entry.peer);
    throw new ProtocolError('invalid-state', 'the connection closed while joining');
  }
  session.entered(entry.room, entry.peer);
  if (data.rtpCapabilities) media.setRtpCapabilities(entry.peer, { rtpCapabilities: data.rtpCapabilities });
  entry.peer.log.info({ name }, 'peer joined');
  return entry.response;
}

/** Every method of the protocol, each mapped onto the module that owns it. */
export const handlers: { [M in Method]: Handler<M> } = {
  join,
  leave: (session) => (session.leave(), none),
  reportFirstFrame: joined((_room, peer, d, ctx, session) => {
    // Once per participant: one client cannot fill the histogram.
    if (session.firstFrameOf !== peer.id) {
      session.firstFrameOf = peer.id;
      ctx.metrics.firstFrame(d.milliseconds / 1000);
    }
    return none;
  }),
  mintGuestLink: joined(async (room, peer, d, ctx) => {
    if (!peer.isHost) throw new ProtocolError('forbidden', 'only broadcasters and admins can invite a guest broadcaster');
    const ttlSeconds = d.ttlSeconds ?? GUEST_LINK_TTL_SECONDS;
    const token = await ctx.access.tokens.mint({ role: 'publisher', room: room.id, name: d.name, ttlSeconds });
    peer.log.info({ guest: d.name, ttlSeconds }, 'guest broadcaster link minted');
    return { token, room: room.id, name: d.name, expiresAt: Date.now() + ttlSeconds * 1000 };
  }),

  setRtpCapabilities: joined((_room, peer, d) => (media.setRtpCapabilities(peer, d), none)),
  createTransport: joined((room, peer, d) => media.createTransport(room, peer, d)),
  connectTransport: joined(async (_room, peer, d) => (await media.connectTransport(peer, d), none)),
  restartIce: joined((_room, peer, d) => media.restartIce(peer, d)),
  consume: joined((room, peer, d) => media.consume(room, peer, d)),
  resumeConsumer: joined(async (_room, peer, d) => (await media.setConsumerPaused(peer, d.consumerId, false), none)),
  pauseConsumer: joined(async (_room, peer, d) => (await media.setConsumerPaused(peer, d.consumerId, true), none)),
  setPreferredLayers: joined(async (_room, peer, d) => (await media.setPreferredLayers(peer, d), none)),
  requestKeyFrame: joined(async (_room, peer, d) => (await media.requestKeyFrame(peer, d), none)),

  produce: joined((room, peer, d) => room.stage.produce(peer, d)),
  closeProducer: joined((room, peer, d) => (room.stage.closeProducer(peer, d), none)),
  pauseProducer: joined(async (room, peer, d) => (await room.stage.setPaused(peer, d.producerId, true), none)),
  resumeProducer: joined(async (room, peer, d) => (await room.stage.setPaused(peer, d.producerId, false), none)),

  chatSend: joined(async (room, peer, d, ctx, session) => {
    // The budget is the connection's and its address's: leaving and joining again does not refill it.
    if (!peer.isModerator && !(session.chat.take() && ctx.limits.takeChat(session.remote))) {
      throw new ProtocolError('rate-limited', 'you are sending messages too fast; wait a moment');
    }
    // Fan-out ('out') is counted where the room tells its participants (RoomManager's onChatOut).
    const sent = await room.chat.send(peer, d.text);
    ctx.metrics.chatMessage('in');
    return sent;
  }),
  chatSync: joined((room, _peer, d) => room.chat.sync(d.since, d.epoch)),
  chatDelete: joined(async (room, peer, d) => (await room.chat.delete(d.messageId, peer), none)),
  chatClear: joined(async (room, peer) => (await room.chat.clear(peer), none)),
  kick: joined((room, peer, d) => (room.moderation.kick(d.peerId, { by: peer, reason: d.reason }), none)),

  raiseHand: joined((room, peer, _d, _ctx, session) => {
    // The connection's budget: leaving and joining again does not refill it.
    if (!room.invitations.hasHand(peer) && !session.hands.take()) throw new ProtocolError('rate-limited', 'you raised your hand a moment ago; wait a few seconds');
    return (room.invitations.raiseHand(peer), none);
  }),
  lowerHand: joined((room, peer) => (room.invitations.lowerHand(peer), none)),
  inviteToStage: joined((room, peer, d) => room.invitations.invite(peer, d.peerId, d.video ?? false)),
  withdrawInvitation: joined((room, peer, d) => (room.invitations.withdraw(peer, d.invitationId), none)),
  answerInvitation: joined((room, peer, d) => room.invitations.answer(peer, d.invitationId, d.accept)),
  sendToAudience: joined((room, peer, d) => (room.invitations.sendToAudience(peer, d.peerId), none)),

  callStart: joined((room, peer, d, _ctx, session) => {
    if (!session.calls.take()) throw new ProtocolError('rate-limited', 'you are calling too often; wait a few seconds');
    return room.calls.start(peer, d);
  }),
  callAnswer: joined((room, peer, d) => (room.calls.answer(peer, d), none)),
  callHangup: joined((room, peer, d) => (room.calls.hangup(peer, d), none)),
  callCreateTransport: joined((room, peer, d) => room.calls.createTransport(peer, d)),
  callConnectTransport: joined(async (room, peer, d) => (await room.calls.connectTransport(peer, d), none)),
  callRestartIce: joined((room, peer, d) => room.calls.restartIce(peer, d)),
  callProduce: joined((room, peer, d) => room.calls.produce(peer, d)),
  callConsume: joined((room, peer, d) => room.calls.consume(peer, d)),
  callResumeConsumer: joined(async (room, peer, d) => (await room.calls.resumeConsumer(peer, d), none)),
  ban: joined((room, peer, d) => (room.moderation.kick(d.peerId, { by: peer, ban: true, reason: d.reason }), none)),
};

/** Runs one validated request; errors are thrown as ProtocolError (or are internal). */
export function dispatch<M extends Method>(session: Session, method: M, data: ParsedRequestData<M>, ctx: DispatchContext): Result<M> {
  return (handlers[method] as Handler<M>)(session, data, ctx);
}
