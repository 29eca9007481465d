import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/messages.js';
import type { Role } from '../protocol/messages.js';
import type { Peer } from '../rooms/peer.js';
import type { RoomBans } from './banList.js';

/** What moderation needs of its room. */
export interface ModeratedRoom {
  readonly peers: ReadonlyMap<string, Peer>;
  readonly log: Logger;
  leave(peer: Peer): void;
  /** Pauses every open audio producer of `peer`; returns how many it paused. */
  pauseAudio(peer: Peer): Promise<number>;
}

/** A removal this node cannot do itself: the target may be on another node of the cluster. */
export interface RemoteRemoval {
  room: string;
  peerId: string;
  /** The remover's role (undefined: the admin API), for the target's node to judge. */
  byRole: Role | undefined;
  ban: boolean;
  reason: string | undefined;
}

/**
 * Who may remove, ban or mute whom in one room, and what the target is told.
 * Bans go to the node's list (they outlive the room); a kick closes the target's
 * connection with a code its page does not retry.
 */
export class Moderation {
  constructor(
    private readonly room: ModeratedRoom,
    private readonly bans: RoomBans,
    /** Cluster mode: hands a removal of a peer not on this node to the other nodes. */
    private readonly forward?: (removal: Omit<RemoteRemoval, 'room'>) => void,
  ) {}

  isBanned(keys: string[]): boolean {
    return this.bans.isBanned(keys);
  }

  /** Removes a peer; with `ban`, its token and address cannot come back. `by` is undefined for the admin API. */
  kick(peerId: string, opts: { by?: Peer | undefined; ban?: boolean; reason?: string | undefined } = {}): void {
    const target = this.room.peers.get(peerId);
    const by = opts.by;
    if (by && !by.isModerator) throw new ProtocolError('forbidden', 'only moderators can remove people');
    if (!target) {
      // In a cluster the peer may be on another node (a chat author, a listed participant):
      // that node judges and removes it.
      if (!this.forward) throw new ProtocolError('not-found', `no peer ${peerId} in this room`);
      this.forward({ peerId, byRole: by?.role, ban: Boolean(opts.ban), reason: opts.reason });
      return;
    }
    if (by) {
      if (target === by) throw new ProtocolError('bad-request', 'you cannot remove yourself; leave instead');
      if (!mayRemove(by.role, target)) throw new ProtocolError('forbidden', 'only an admin can remove a broadcaster');
    }
    if (opts.ban) this.bans.ban(target.banKeys);
    const reason = opts.reason ?? (opts.ban ? 'banned from this room' : 'removed from this room');
    this.room.log.info({ target: peerId, by: by?.id ?? 'admin-api', ban: Boolean(opts.ban) }, 'peer removed');
    this.remove(target, opts.ban ? 'banned' : 'kicked', reason);
  }

  /** A removal forwarded by another node: done when the peer is here and the remover may remove it; else nothing. */
  removeForwarded(r: Omit<RemoteRemoval, 'room'>): boolean {
    const target = this.room.peers.get(r.peerId);
    if (!target || (r.byRole !== undefined && !mayRemove(r.byRole, target))) return false;
    if (r.ban) this.bans.ban(target.banKeys);
    const reason = r.reason ?? (r.ban ? 'banned from this room' : 'removed from this room');
    this.room.log.info({ target: target.id, by: r.byRole ?? 'admin-api', ban: r.ban, forwarded: true }, 'peer removed');
    this.remove(target, r.ban ? 'banned' : 'kicked', reason);
    return true;
  }

  /** Closes every peer the ban list refuses now (a ban made on another node of the cluster); returns how many. */
  expelBanned(): number {
    let n = 0;
    for (const target of [...this.room.peers.values()]) {
      if (!this.bans.isBanned(target.banKeys)) continue;
      this.room.log.info({ target: target.id }, 'peer removed: banned on another node');
      this.remove(target, 'banned', 'banned from this room');
      n++;
    }
    return n;
  }

  private remove(target: Peer, code: 'banned' | 'kicked', reason: string): void {
    target.notify('closing', { reason, code });
    target.link.close(code === 'banned' ? 4003 : 4001, reason);
    this.room.leave(target);
  }

  /**
   * Admin/moderator mute: pauses every audio producer of a publisher and keeps it
   * muted for this connection (resume refused, a new mic produced paused). The
   * publisher is told, so its page shows it.
   */
  async mute(target: Peer, reason = 'a moderator muted your microphone'): Promise<number> {
    target.audioLocked = true;
    target.notify('moderatorMuted', { kind: 'audio', reason });
    return this.room.pauseAudio(target);
  }
}

/** Moderators remove viewers; only an admin removes a broadcaster; nobody removes an admin. */
function mayRemove(byRole: Role, target: Peer): boolean {
  return target.role !== 'admin' && (!target.isModerator || byRole === 'admin');
}
