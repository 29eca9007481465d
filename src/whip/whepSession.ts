import type { types as ms } from 'mediasoup';
import type { RoomManager } from '../rooms/roomManager.js';
import type { Peer } from '../rooms/peer.js';
import { MAX_PUBLISHERS, ProtocolError, type MediaSource } from '../protocol/messages.js';
import { MediaSession } from './mediaSession.js';
import { planEgress, readOffer, writeAnswer, type AnswerSection, type EgressSection } from './negotiate.js';

/** One seat of the stage as the player sees it: an audio and a video section, filled by one broadcaster. */
interface Slot {
  index: number;
  audio?: EgressSection;
  video?: EgressSection;
  /** The broadcaster shown here, by peer id. */
  peerId?: string;
}

/**
 * A WHEP player (draft-ietf-wish-whep): one receive transport carrying the
 * whole stage. Its offer's sections are paired into slots (the n-th audio with
 * the n-th video section), at most four; each slot shows one broadcaster, and
 * the answer announces each slot's streams by SSRC.
 *
 * Stage changes: the draft has no renegotiation, and mediasoup gives each new
 * consumer a new SSRC that a browser would not take without a new
 * description. So a session carries the stage as it was when it started: a
 * broadcaster who leaves goes quiet in its slot (its consumer closes), and a
 * broadcaster who goes live later is seen by a new session (the player
 * POSTs again).
 */
export class WhepSession extends MediaSession {
  readonly protocol = 'whep' as const;
  private slots: Slot[] = [];
  /** Consumers by section MID. */
  private readonly consumers = new Map<string, ms.Consumer>();

  async start(rooms: RoomManager, sdp: string, caps: ms.RtpCapabilities, address: string): Promise<string> {
    const offer = readOffer(sdp);
    const plan = planEgress(offer, caps);
    this.slots = pairSlots(plan.sections);
    // A player polls a room before its show: that costs no room and no router until a broadcaster is there.
    const existing = rooms.get(this.grant.room);
    if (!existing || existing.closed || !existing.hasHost) {
      throw new ProtocolError('invalid-state', 'nobody is on stage in this room yet; try again when the show starts');
    }
    try {
      // Always a viewer: a broadcaster's token used to watch must not take over its own stage seat.
      const { room, peer } = await rooms.join({
        roomId: this.grant.room,
        role: 'viewer',
        name: this.grant.name ?? 'WHEP viewer',
        link: this.link,
        banKeys: this.grant.banKeys,
        address,
      });
      this.room = room;
      this.peer = peer;
      this.assertLive();
      this.transport = await peer.media.createTransport('recv');
      this.assertLive();
      await this.connect(offer);
      // The stage now, in stage order, one broadcaster per slot.
      const stage = room.stage.peers.filter((p) => !p.closed);
      for (const [i, slot] of this.slots.entries()) {
        const broadcaster = stage[i];
        if (!broadcaster) continue;
        slot.peerId = broadcaster.id;
        if (slot.audio) await this.fill(slot.audio, broadcaster, 'mic', plan.rtpCapabilities);
        if (slot.video) await this.fill(slot.video, broadcaster, 'camera', plan.rtpCapabilities);
      }
      const answered: AnswerSection[] = [];
      for (const slot of this.slots) {
        for (const s of [slot.audio, slot.video]) {
          if (!s) continue;
          const c = this.consumers.get(s.section.mid!);
          const ssrc = c?.rtpParameters.encodings?.[0]?.ssrc;
          answered.push({
            section: s.section,
            direction: 'sendonly',
            codecs: s.answerCodecs,
            extensions: s.answerExtensions,
            msid: `fourcast-${slot.index} ${s.kind}-${slot.index}`,
            ...(c && ssrc ? { ssrc: { ssrc, cname: c.rtpParameters.rtcp?.cname ?? 'fourcast' } } : {}),
          });
        }
      }
      this.firstSection = answered[0]!.section;
      return writeAnswer(offer, this.transport, answered, this.id.replace(/\D/g, '').slice(0, 16) || '1');
    } catch (err) {
      this.close('failed');
      throw err;
    }
  }

  /** Which broadcaster each slot shows, by peer id (admin, tests); a slot whose broadcaster left keeps its id. */
  get assignments(): (string | undefined)[] {
    return this.slots.map((s) => s.peerId);
  }

  /** Makes `section` carry `peer`'s `source`, when it has one. */
  private async fill(section: EgressSection, peer: Peer, source: MediaSource, caps: ms.RtpCapabilities): Promise<void> {
    const mid = section.section.mid!;
    const producer = [...peer.producers.values()].find((p) => p.source === source && !p.producer.closed)?.producer;
    if (!producer) return;
    const media = this.peer!.media;
    let consumer: ms.Consumer;
    try {
      consumer = await media.consume(producer.id, caps, { mid });
    } catch (err) {
      // A broadcaster in a codec this player did not offer (an H.264 encoder, a VP8-only player): that slot stays quiet.
      if (err instanceof ProtocolError && err.code === 'bad-request') {
        this.peer!.log.info({ producer: producer.id, err: err.message }, 'WHEP slot left quiet: codec not offered by the player');
        return;
      }
      throw err;
    }
    this.assertLive();
    this.consumers.set(mid, consumer);
    consumer.observer.once('close', () => this.consumers.delete(mid));
    await media.request(consumer.resume(), 'resumeConsumer');
    if (consumer.kind === 'video' && !consumer.closed) await media.request(consumer.requestKeyFrame(), 'requestKeyFrame');
    this.assertLive();
  }

  protected override onClose(): void {
    this.consumers.clear();
  }

  /** The player can decode from now: a key frame for every slot, rather than waiting for its own PLI. */
  protected override onConnected(): void {
    for (const c of this.consumers.values()) if (c.kind === 'video' && !c.closed) c.requestKeyFrame().catch(() => undefined);
  }
}

/** Pairs the n-th audio with the n-th video section; sections past the stage's four are not answered. */
function pairSlots(sections: EgressSection[]): Slot[] {
  const slots: Slot[] = [];
  const next = { audio: 0, video: 0 };
  for (const s of sections) {
    const i = next[s.kind]++;
    if (i >= MAX_PUBLISHERS) continue;
    slots[i] ??= { index: i };
    slots[i][s.kind] = s;
  }
  return slots;
}
