import type { types as ms } from 'mediasoup';
import type { RoomManager } from '../rooms/roomManager.js';
import { ProtocolError } from '../protocol/messages.js';
import { MediaSession } from './mediaSession.js';
import { planIngest, readOffer, writeAnswer } from './negotiate.js';

/**
 * A WHIP broadcaster (RFC 9725): OBS, a hardware encoder or any WebRTC sender.
 * It is a room participant with its token's role and name, holds a stage slot
 * like a browser broadcaster (taken before its first media await, so a fifth is
 * refused `stage-full`), and publishes one producer per sending section.
 */
export class WhipSession extends MediaSession {
  readonly protocol = 'whip' as const;

  /** Negotiates `sdp`, joins the room, takes a slot and produces; returns the answer. Closes itself on failure. */
  async start(rooms: RoomManager, sdp: string, caps: ms.RtpCapabilities, address: string): Promise<string> {
    if (this.grant.role !== 'publisher' && this.grant.role !== 'admin') {
      throw new ProtocolError('forbidden', 'a viewer token cannot publish; use a broadcaster token (or watch with WHEP)');
    }
    // A codec mismatch is refused before anything is created.
    const offer = readOffer(sdp);
    const plans = planIngest(offer, caps);
    try {
      // An encoder that reconnects (or re-POSTs after a network change) replaces its older session.
      const { room, peer } = await rooms.join({
        roomId: this.grant.room,
        role: this.grant.role,
        name: this.grant.name ?? 'WHIP broadcaster',
        link: this.link,
        banKeys: this.grant.banKeys,
        tokenId: this.grant.tokenId,
        takeOver: true,
        address,
      });
      this.room = room;
      this.peer = peer;
      this.assertLive();
      // The slot first, synchronously: a fifth broadcaster is refused before any transport exists.
      room.stage.reserve(peer);
      this.transport = await peer.media.createTransport('send', { stage: true });
      this.assertLive();
      await this.connect(offer);
      for (const plan of plans) {
        await room.stage.produceOn(peer, this.transport, { kind: plan.kind, rtpParameters: plan.rtpParameters, source: plan.kind === 'video' ? 'camera' : 'mic' });
        this.assertLive();
      }
      this.firstSection = plans[0]!.section;
      return writeAnswer(
        offer,
        this.transport,
        plans.map((p) => ({ section: p.section, direction: 'recvonly', codecs: p.answerCodecs, extensions: p.answerExtensions })),
        this.id.replace(/\D/g, '').slice(0, 16) || '1',
      );
    } catch (err) {
      this.close('failed');
      throw err;
    }
  }
}
