import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import type { RoomMedia } from '../media/roomMedia.js';
import { ProtocolError, type CallEndReason, type ConsumerInfo, type ParsedRequestData, type TransportInfo } from '../protocol/messages.js';
import type { Peer } from '../rooms/peer.js';
import { Call, endMessage, type CallSnapshot } from './call.js';

/** Who may call whom (CALLS): nobody, broadcasters and admins among themselves, or any two participants. */
export type CallPolicy = 'off' | 'hosts' | 'everyone';

export interface CallsOptions {
  roomId: string;
  policy: CallPolicy;
  /** An unanswered call ends (`no-answer`) after this long (CALL_RING_SECONDS). */
  ringMs: number;
  /** A private media room on the node's workers: one router, receivers placed on it within the packet budget. */
  createMedia: () => RoomMedia;
  keyFrameRequestDelayMs: number;
  /** The room's participants of this node (callees are found here). */
  peers: ReadonlyMap<string, Peer>;
  log: Logger;
  /** Who is in a call shows in the participant list. */
  presenceChanged: () => void;
  /** Metrics: a call was placed, and how each ended (`accepted` counted on answer). */
  onOutcome?: ((outcome: CallEndReason | 'placed' | 'accepted') => void) | undefined;
}

/**
 * The private calls of one room. A person is in at most one call, ringing or active: both
 * sides are reserved synchronously when the call is placed, so two callers racing for the same
 * callee get one `incomingCall` and one `busy`. Hanging up, declining, the ring timing out,
 * either side leaving the room, the call's worker dying or an admin ends it for both, once,
 * with a reason. (How often a connection may place calls is the signaling session's budget.)
 */
export class Calls {
  private readonly byPeer = new Map<Peer, Call>();
  private readonly byId = new Map<string, Call>();

  constructor(private readonly opts: CallsOptions) {}

  get policy(): CallPolicy {
    return this.opts.policy;
  }

  inCall(peer: Peer): boolean {
    return this.byPeer.has(peer);
  }

  get size(): number {
    return this.byId.size;
  }

  list(): CallSnapshot[] {
    return [...this.byId.values()].map((c) => c.describe());
  }

  start(caller: Peer, { peerId, video = true }: ParsedRequestData<'callStart'>): { callId: string; ringsUntil: number } {
    const policy = this.opts.policy;
    if (policy === 'off') throw new ProtocolError('forbidden', 'private calls are turned off on this server');
    const callee = this.opts.peers.get(peerId);
    if (!callee || callee.closed || callee.relay) throw new ProtocolError('not-found', `nobody with id ${peerId} is in this room on this server`);
    if (callee === caller) throw new ProtocolError('bad-request', 'you cannot call yourself');
    if (policy === 'hosts' && !(caller.isHost && callee.isHost)) throw new ProtocolError('forbidden', 'on this server only broadcasters and admins can call each other');
    if (this.byPeer.has(caller)) throw new ProtocolError('busy', 'you are already in a call; hang up first');
    if (this.byPeer.has(callee)) throw new ProtocolError('busy', `${callee.name} is in another call`);

    const call: Call = new Call(this.opts.roomId, caller, callee, video, this.opts.createMedia, () => this.end(call, 'media-failed'));
    this.byId.set(call.id, call);
    this.byPeer.set(caller, call);
    this.byPeer.set(callee, call);
    const ringsUntil = Date.now() + this.opts.ringMs;
    call.ringTimer = setTimeout(() => this.end(call, 'no-answer'), this.opts.ringMs);
    call.ringTimer.unref();
    callee.notify('incomingCall', { callId: call.id, from: { peerId: caller.id, name: caller.name }, video, ringsUntil });
    this.opts.onOutcome?.('placed');
    this.opts.presenceChanged();
    this.opts.log.info({ call: call.id, caller: caller.id, callee: callee.id, video }, 'call placed');
    return { callId: call.id, ringsUntil };
  }

  answer(peer: Peer, { callId, accept }: ParsedRequestData<'callAnswer'>): void {
    const call = this.party(peer, callId);
    if (call.callee !== peer) throw new ProtocolError('forbidden', 'only the person called can answer');
    if (call.state !== 'ringing') throw new ProtocolError('invalid-state', 'this call was already answered');
    if (!accept) return this.end(call, 'declined', peer);
    call.state = 'active';
    call.answeredAt = Date.now();
    clearTimeout(call.ringTimer);
    call.caller.notify('callAccepted', { callId });
    this.opts.onOutcome?.('accepted');
  }

  hangup(peer: Peer, { callId }: ParsedRequestData<'callHangup'>): void {
    this.end(this.party(peer, callId), 'hung-up', peer);
  }

  /** The peer left the room (hung up the page, lost its connection, was kicked). */
  peerLeft(peer: Peer): void {
    const call = this.byPeer.get(peer);
    if (call) this.end(call, 'disconnected', peer);
  }

  /** Admin: ends a call; false if there is none with that id. */
  endById(callId: string): boolean {
    const call = this.byId.get(callId);
    if (!call) return false;
    this.end(call, 'ended-by-admin');
    return true;
  }

  /** The room closes: every call ends without notices (the room tells everyone why). */
  close(): void {
    for (const call of [...this.byId.values()]) {
      call.end();
      this.forget(call);
    }
  }

  // ---- the call's media -----------------------------------------------------------

  async createTransport(peer: Peer, { callId, direction }: ParsedRequestData<'callCreateTransport'>): Promise<TransportInfo> {
    const call = this.party(peer, callId);
    const transport = await call.unit(peer).createTransport(direction);
    this.assertLive(call, peer);
    return { transportId: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
  }

  async connectTransport(peer: Peer, { callId, transportId, dtlsParameters }: ParsedRequestData<'callConnectTransport'>): Promise<void> {
    await this.party(peer, callId).unit(peer).connect(transportId, dtlsParameters as ms.DtlsParameters);
  }

  async restartIce(peer: Peer, { callId, transportId }: ParsedRequestData<'callRestartIce'>): Promise<{ iceParameters: unknown }> {
    return { iceParameters: await this.party(peer, callId).unit(peer).restartIce(transportId) };
  }

  async produce(peer: Peer, { callId, transportId, kind, rtpParameters }: ParsedRequestData<'callProduce'>): Promise<{ producerId: string }> {
    const call = this.party(peer, callId);
    if (kind === 'video' && !call.video) throw new ProtocolError('forbidden', 'this is an audio call');
    const unit = call.unit(peer);
    const t = unit.transport(transportId);
    if (t.direction !== 'send') throw new ProtocolError('bad-request', 'produce needs a send transport');
    const producer = await unit.produce(t.transport, {
      kind,
      rtpParameters: rtpParameters as ms.RtpParameters,
      source: kind === 'video' ? 'camera' : 'mic',
      keyFrameRequestDelay: this.opts.keyFrameRequestDelayMs,
    });
    this.assertLive(call, peer);
    call.other(peer).notify('callProducer', { callId, producerId: producer.id, kind });
    return { producerId: producer.id };
  }

  /** Only the other side's producers of this call: nothing of the stage, nothing of another call. */
  async consume(peer: Peer, { callId, producerId }: ParsedRequestData<'callConsume'>): Promise<ConsumerInfo> {
    const call = this.party(peer, callId);
    const other = call.other(peer);
    if (!call.unitOf(other)?.producers.has(producerId)) throw new ProtocolError('not-found', `no producer ${producerId} in this call`);
    if (!peer.rtpCapabilities) throw new ProtocolError('invalid-state', 'send setRtpCapabilities before consume');
    const consumer = await call.unit(peer).consume(producerId, peer.rtpCapabilities);
    this.assertLive(call, peer);
    return {
      consumerId: consumer.id,
      producerId,
      peerId: other.id,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  async resumeConsumer(peer: Peer, { callId, consumerId }: ParsedRequestData<'callResumeConsumer'>): Promise<void> {
    const unit = this.party(peer, callId).unit(peer);
    const consumer = unit.consumer(consumerId);
    await unit.request(consumer.resume(), 'resumeConsumer');
  }

  // ---- internals --------------------------------------------------------------------

  /** The call `callId` of which `peer` is one side (others get `not-found`: a call's id reveals nothing). */
  private party(peer: Peer, callId: string): Call {
    const call = this.byId.get(callId);
    if (!call || (call.caller !== peer && call.callee !== peer)) throw new ProtocolError('not-found', 'no such call of yours (it may have ended)');
    return call;
  }

  /** Re-checked after each await: the call may have ended meanwhile (its router, and what was just created, are closed). */
  private assertLive(call: Call, peer: Peer): void {
    if (call.state !== 'active' || peer.closed) throw new ProtocolError('invalid-state', 'the call ended while this request was running');
  }

  private end(call: Call, reason: CallEndReason, by?: Peer): void {
    if (call.state === 'ended') return;
    const message = endMessage(reason, by, call);
    call.end();
    this.forget(call);
    for (const p of call.parties) p.notify('callEnded', { callId: call.id, reason, message });
    this.opts.onOutcome?.(reason);
    this.opts.presenceChanged();
    this.opts.log.info({ call: call.id, reason, seconds: call.answeredAt ? Math.round((Date.now() - call.answeredAt) / 1000) : 0 }, 'call ended');
  }

  private forget(call: Call): void {
    this.byId.delete(call.id);
    for (const p of call.parties) if (this.byPeer.get(p) === call) this.byPeer.delete(p);
  }
}
