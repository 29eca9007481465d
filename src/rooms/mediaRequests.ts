import type { types as ms } from 'mediasoup';
import { ProtocolError, type ConsumerInfo, type ParsedRequestData, type TransportInfo } from '../protocol/messages.js';
import type { Peer } from './peer.js';
import type { Stage } from './stage.js';

/**
 * A participant's transport and receiving requests. The mediasoup objects and
 * their lifecycle (reservations, liveness re-checks, caps) belong to the peer's
 * media unit (media/peerMedia.ts); this module applies the room's rules.
 */

/** What these requests need of the room. */
export interface MediaRoom {
  readonly stage: Stage;
  /** A broadcaster is present (on stage or about to be): a room costs no router before. */
  readonly hasHost: boolean;
}

export async function createTransport(room: MediaRoom, peer: Peer, { direction }: ParsedRequestData<'createTransport'>): Promise<TransportInfo> {
  if (direction === 'send' && !peer.canPublish) throw new ProtocolError('forbidden', 'your access token does not allow publishing');
  // A room costs no router until a broadcaster arrives: a viewer asks for media once there is some.
  if (direction === 'recv' && !peer.canPublish && !room.hasHost) {
    throw new ProtocolError('invalid-state', 'nobody is on stage yet: create the receive transport when a broadcaster arrives');
  }
  // Broadcasters watch their co-hosts even on a node whose packet budget is spent: a stage is at most four.
  const transport = await peer.media.createTransport(direction, { stage: peer.canPublish });
  return {
    transportId: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    dtlsParameters: transport.dtlsParameters,
  };
}

export async function connectTransport(peer: Peer, { transportId, dtlsParameters }: ParsedRequestData<'connectTransport'>): Promise<void> {
  await peer.media.connect(transportId, dtlsParameters as ms.DtlsParameters);
}

export async function restartIce(peer: Peer, { transportId }: ParsedRequestData<'restartIce'>): Promise<{ iceParameters: unknown }> {
  return { iceParameters: await peer.media.restartIce(transportId) };
}

export function setRtpCapabilities(peer: Peer, { rtpCapabilities }: ParsedRequestData<'setRtpCapabilities'>): void {
  peer.rtpCapabilities = rtpCapabilities as ms.RtpCapabilities;
}

export async function consume(room: MediaRoom, peer: Peer, { producerId }: ParsedRequestData<'consume'>): Promise<ConsumerInfo> {
  if (!peer.rtpCapabilities) throw new ProtocolError('invalid-state', 'send setRtpCapabilities before consume');
  const owner = room.stage.ownerOf(producerId);
  if (!owner) throw new ProtocolError('not-found', `no producer ${producerId} in this room`);
  if (owner === peer) throw new ProtocolError('bad-request', 'you cannot consume your own producer');
  const consumer = await peer.media.consume(producerId, peer.rtpCapabilities);
  consumer.on('producerclose', () => peer.notify('consumerClosed', { consumerId: consumer.id, producerId }));
  consumer.on('layerschange', (layers) =>
    peer.notify('consumerLayersChanged', {
      consumerId: consumer.id,
      spatialLayer: layers?.spatialLayer ?? null,
      temporalLayer: layers?.temporalLayer ?? null,
    }),
  );
  return {
    consumerId: consumer.id,
    producerId,
    peerId: owner.id,
    kind: consumer.kind,
    rtpParameters: consumer.rtpParameters,
    type: consumer.type,
    producerPaused: consumer.producerPaused,
  };
}

export async function setConsumerPaused(peer: Peer, consumerId: string, paused: boolean): Promise<void> {
  const consumer = peer.media.consumer(consumerId);
  await peer.media.request(paused ? consumer.pause() : consumer.resume(), paused ? 'pauseConsumer' : 'resumeConsumer');
}

export async function setPreferredLayers(peer: Peer, { consumerId, spatialLayer, temporalLayer }: ParsedRequestData<'setPreferredLayers'>): Promise<void> {
  const consumer = peer.media.consumer(consumerId);
  if (consumer.type !== 'simulcast' && consumer.type !== 'svc') return;
  await peer.media.request(consumer.setPreferredLayers(temporalLayer === undefined ? { spatialLayer } : { spatialLayer, temporalLayer }), 'setPreferredLayers');
}

export async function requestKeyFrame(peer: Peer, { consumerId }: ParsedRequestData<'requestKeyFrame'>): Promise<void> {
  // Rate-limited towards the broadcaster by the producer's keyFrameRequestDelay.
  await peer.media.request(peer.media.consumer(consumerId).requestKeyFrame(), 'requestKeyFrame');
}
