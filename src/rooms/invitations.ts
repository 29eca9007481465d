import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { ProtocolError, type InvitationInfo, type InvitationState, type Notifications } from '../protocol/messages.js';
import type { Peer } from './peer.js';
import type { Stage } from './stage.js';

/** What invitations need of their room. */
export interface InvitationRoom {
  readonly peers: ReadonlyMap<string, Peer>;
  /** Broadcasters and admins of this node: they see hands and invitations. */
  readonly hosts: ReadonlySet<Peer>;
  readonly stage: Stage;
  readonly log: Logger;
  /** The participant list shows raised hands and guests. */
  presenceChanged(): void;
}

export interface InvitationOptions {
  /** A pending invitation lapses after this long (STAGE_INVITATION_TTL_SECONDS). */
  ttlMs: number;
  /** A guest who accepted and has not produced by then gives the slot back (STAGE_GUEST_PUBLISH_SECONDS). */
  publishTimeoutMs: number;
  /** Outcomes, for fourcast_stage_invitations_total. */
  onOutcome?: ((outcome: InvitationOutcome) => void) | undefined;
}

/** Counted outcomes: the terminal states, `sent` and a refused accept (`stage-full`). */
export type InvitationOutcome = 'sent' | 'stage-full' | Exclude<InvitationState, 'pending'>;

/** Open invitations one room holds at once: each is a timer and a line in every host's list. */
export const MAX_OPEN_INVITATIONS = 32;

interface Invitation {
  info: InvitationInfo;
  guest: Peer;
  timer: NodeJS.Timeout;
}

/**
 * Joining the stage with consent. A viewer raises a hand (hosts are told); a host invites a
 * viewer (with or without a hand up); only the viewer can accept. Accepting reserves a stage
 * slot synchronously (so concurrent accepts cannot seat a fifth broadcaster) and makes the
 * viewer a guest of its own connection: it may now create a send transport and produce the
 * microphone (and the camera if invited with video). A guest that does not produce in time,
 * whose last producer closes, or whom a host sends back returns to the audience. Invitations
 * expire, can be withdrawn by any host, and close when their viewer leaves. (How often a
 * connection may raise a hand is the signaling session's budget.)
 */
export class Invitations {
  private readonly open = new Map<string, Invitation>();
  /** Viewers with a hand up, with when they raised it. */
  private readonly hands = new Map<Peer, number>();
  private readonly publishTimers = new Map<Peer, NodeJS.Timeout>();

  constructor(
    private readonly room: InvitationRoom,
    private readonly opts: InvitationOptions,
  ) {}

  // ---- hands -------------------------------------------------------------------

  raiseHand(peer: Peer): void {
    if (peer.canPublish) throw new ProtocolError('invalid-state', 'you can already go on stage; no need to raise a hand');
    if (this.hands.has(peer)) return;
    this.hands.set(peer, Date.now());
    this.toHosts('handRaised', { peerId: peer.id, name: peer.name, raised: true });
    this.room.presenceChanged();
  }

  lowerHand(peer: Peer): void {
    if (!this.hands.delete(peer)) return;
    this.toHosts('handRaised', { peerId: peer.id, name: peer.name, raised: false });
    this.room.presenceChanged();
  }

  hasHand(peer: Peer): boolean {
    return this.hands.has(peer);
  }

  raisedHands(): { peerId: string; name: string }[] {
    return [...this.hands.keys()].map((p) => ({ peerId: p.id, name: p.name }));
  }

  // ---- invitations ---------------------------------------------------------------

  invite(by: Peer, peerId: string, video: boolean): InvitationInfo {
    assertHost(by, 'invite someone onto the stage');
    const guest = this.room.peers.get(peerId);
    if (!guest || guest.closed || guest.relay) throw new ProtocolError('not-found', `no viewer ${peerId} on this server (in a cluster, only viewers connected to the node holding the stage can be invited)`);
    if (guest.canPublish) throw new ProtocolError('invalid-state', `${guest.name} can already broadcast`);
    if (this.pendingFor(guest)) throw new ProtocolError('invalid-state', `${guest.name} already has an invitation waiting for an answer`);
    if (this.open.size >= MAX_OPEN_INVITATIONS) throw new ProtocolError('rate-limited', `this room already has ${MAX_OPEN_INVITATIONS} open invitations; withdraw some first`);
    const invitationId = randomUUID();
    const info: InvitationInfo = {
      invitationId,
      peerId: guest.id,
      name: guest.name,
      from: { peerId: by.id, name: by.name },
      video,
      state: 'pending',
      expiresAt: Date.now() + this.opts.ttlMs,
    };
    const timer = setTimeout(() => this.close(invitationId, 'expired', 'the invitation expired before it was answered'), this.opts.ttlMs);
    timer.unref();
    this.open.set(invitationId, { info, guest, timer });
    // The hand is answered by the invitation.
    this.lowerHand(guest);
    guest.notify('stageInvitation', { invitationId, from: info.from, video, expiresAt: info.expiresAt });
    this.toHosts('invitationChanged', info);
    this.opts.onOutcome?.('sent');
    this.room.log.info({ invitation: invitationId, guest: guest.id, by: by.id, video }, 'stage invitation sent');
    return { ...info };
  }

  withdraw(by: Peer, invitationId: string): void {
    assertHost(by, 'withdraw an invitation');
    this.get(invitationId);
    this.close(invitationId, 'withdrawn', `${by.name} withdrew the invitation`);
  }

  /**
   * The viewer's answer. Accepting reserves the slot before anything else can run (no await
   * here): of two viewers accepting the last slot at once, exactly one gets it.
   */
  answer(peer: Peer, invitationId: string, accept: boolean): { accepted: boolean; video: boolean; publishBy: number | null } {
    const inv = this.get(invitationId);
    if (inv.guest !== peer) throw new ProtocolError('forbidden', 'this invitation is for someone else');
    if (!accept) {
      this.close(invitationId, 'declined', `${peer.name} declined`);
      return { accepted: false, video: inv.info.video, publishBy: null };
    }
    if (this.room.stage.peers.some((p) => p.relay)) {
      throw new ProtocolError('invalid-state', 'the stage is on another server of this cluster; guests can only join from that server');
    }
    peer.guest = { video: inv.info.video, published: false };
    try {
      this.room.stage.reserve(peer);
    } catch (err) {
      peer.guest = undefined;
      if (err instanceof ProtocolError && err.code === 'stage-full') {
        // Stays open: the viewer may accept again once a seat frees up.
        inv.info.refused = err.message;
        this.toHosts('invitationChanged', inv.info);
        this.opts.onOutcome?.('stage-full');
      }
      throw err;
    }
    this.close(invitationId, 'accepted', `${peer.name} accepted`);
    const publishBy = Date.now() + this.opts.publishTimeoutMs;
    const t = setTimeout(() => {
      this.publishTimers.delete(peer);
      if (peer.guest && peer.producers.size === 0 && (peer.closed || peer.media.producing === 0)) {
        this.sendBack(peer, 'not-published', 'you did not start your microphone in time; the seat went back to the stage');
      }
    }, this.opts.publishTimeoutMs);
    t.unref();
    this.publishTimers.set(peer, t);
    this.room.log.info({ invitation: invitationId, guest: peer.id }, 'guest took a stage slot');
    return { accepted: true, video: inv.info.video, publishBy };
  }

  /** A host sends a guest back to the audience, or a guest leaves the stage by itself. */
  sendToAudience(by: Peer, peerId: string): void {
    const guest = this.room.peers.get(peerId);
    if (by !== guest) assertHost(by, 'send a guest back to the audience');
    if (!guest?.guest) throw new ProtocolError('not-found', 'no guest with that id on stage (hosts leave the stage by stopping, or are kicked)');
    const reason = by === guest ? 'you left the stage' : `${by.name} sent you back to the audience`;
    this.sendBack(guest, 'sent-back', reason);
  }

  /** Stage.leave ran for `peer` (its last producer closed, or it was sent back): a guest becomes a viewer again. */
  leftStage(peer: Peer): void {
    if (!peer.guest) return;
    this.endGuest(peer);
    peer.notify('backToAudience', { reason: 'your microphone and camera stopped, so you left the stage', code: 'left-stage' });
  }

  /** The peer left the room: its hand, its invitations and its guest seat go. */
  peerLeft(peer: Peer): void {
    peer.guest = undefined;
    this.hands.delete(peer);
    for (const [id, inv] of [...this.open]) if (inv.guest === peer) this.close(id, 'left', `${peer.name} left the room`);
    clearTimeout(this.publishTimers.get(peer));
    this.publishTimers.delete(peer);
  }

  /** Open invitations (admin, join response of hosts). */
  list(): InvitationInfo[] {
    return [...this.open.values()].map((i) => ({ ...i.info }));
  }

  get guests(): number {
    let n = 0;
    for (const p of this.room.peers.values()) if (p.guest) n++;
    return n;
  }

  /** Viewers on stage as guests (admin). */
  guestList(): { peerId: string; name: string; video: boolean; published: boolean }[] {
    return [...this.room.peers.values()].filter((p) => p.guest).map((p) => ({ peerId: p.id, name: p.name, video: p.guest!.video, published: p.guest!.published }));
  }

  /** Admin: sends a guest back to the audience; false if `peerId` is not a guest here. */
  sendBackByAdmin(peerId: string): boolean {
    const guest = this.room.peers.get(peerId);
    if (!guest?.guest) return false;
    this.sendBack(guest, 'sent-back', 'an administrator sent you back to the audience');
    return true;
  }

  /** Admin: withdraws an invitation without a host. */
  withdrawByAdmin(invitationId: string): boolean {
    if (!this.open.has(invitationId)) return false;
    this.close(invitationId, 'withdrawn', 'an administrator withdrew the invitation');
    return true;
  }

  close(invitationId?: string, state?: Exclude<InvitationState, 'pending'>, reason?: string): void {
    if (invitationId === undefined) {
      // The room closes: timers only (everyone is told by the room).
      for (const inv of this.open.values()) clearTimeout(inv.timer);
      this.open.clear();
      for (const t of this.publishTimers.values()) clearTimeout(t);
      this.publishTimers.clear();
      return;
    }
    const inv = this.open.get(invitationId);
    if (!inv || !state) return;
    clearTimeout(inv.timer);
    this.open.delete(invitationId);
    inv.info.state = state;
    if (state !== 'accepted' && state !== 'declined') inv.guest.notify('invitationClosed', { invitationId, state, reason: reason ?? state });
    this.toHosts('invitationChanged', inv.info);
    this.opts.onOutcome?.(state);
  }

  private sendBack(guest: Peer, code: 'sent-back' | 'not-published', reason: string): void {
    this.endGuest(guest);
    this.room.stage.leave(guest);
    guest.notify('backToAudience', { reason, code });
    this.room.log.info({ guest: guest.id, code }, 'guest back in the audience');
  }

  private endGuest(peer: Peer): void {
    peer.guest = undefined;
    clearTimeout(this.publishTimers.get(peer));
    this.publishTimers.delete(peer);
    this.room.presenceChanged();
  }

  private get(invitationId: string): Invitation {
    const inv = this.open.get(invitationId);
    if (!inv) throw new ProtocolError('not-found', 'this invitation is no longer open (answered, withdrawn or expired)');
    return inv;
  }

  private pendingFor(peer: Peer): Invitation | undefined {
    for (const inv of this.open.values()) if (inv.guest === peer) return inv;
    return undefined;
  }

  private toHosts<N extends 'handRaised' | 'invitationChanged'>(method: N, data: Notifications[N]): void {
    for (const h of this.room.hosts) h.notify(method, data);
  }
}

function assertHost(peer: Peer, what: string): void {
  if (!peer.isModerator) throw new ProtocolError('forbidden', `only broadcasters and admins can ${what}`);
}
