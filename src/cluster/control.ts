import { z } from 'zod';
import type { Logger } from '../log.js';
import type { RemoteRemoval } from '../moderation/moderation.js';
import { roles } from '../protocol/messages.js';
import { ClusterKeys } from './keys.js';
import type { RedisConnection } from './redis.js';

export interface ClusterControlOptions {
  nodeId: string;
  log: Logger;
  /** Another node asks to remove a peer of a room; the node holding it does (Moderation.removeForwarded). */
  onRemoval: (removal: RemoteRemoval) => void;
  keys?: ClusterKeys;
}

// What travels on the control channel. Checked on arrival like any input: a node of another
// version (or anything else publishing there) must not throw inside the subscriber.
const message = z.object({
  from: z.string().min(1).max(128),
  type: z.literal('remove'),
  room: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  peerId: z.string().min(1).max(64),
  byRole: z.enum(roles).optional(),
  ban: z.boolean(),
  reason: z.string().max(200).optional(),
});

/**
 * Commands between nodes, on one Redis channel: today a moderator's or admin's removal of a
 * peer that is not on the node where it was asked (a chat author or listed participant on
 * another node). Fire and forget: the node holding the peer judges (the remover's role
 * against the target's) and removes it; the others ignore it.
 */
export class ClusterControl {
  private readonly channel: string;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly opts: ClusterControlOptions,
  ) {
    this.channel = (opts.keys ?? new ClusterKeys()).control();
  }

  start(): void {
    this.unsubscribe ??= this.redis.subscribe(this.channel, { message: (payload) => this.onMessage(payload) });
  }

  forwardRemoval(r: RemoteRemoval): void {
    const payload = JSON.stringify({ from: this.opts.nodeId, type: 'remove', ...r });
    this.redis.publish(this.channel, payload).catch((err: Error) => this.opts.log.warn({ err: err.message, room: r.room }, 'removal not sent to the other nodes (Redis unreachable)'));
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private onMessage(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      parsed = undefined;
    }
    const m = message.safeParse(parsed);
    if (!m.success) {
      this.opts.log.warn({ payload: payload.slice(0, 200) }, 'unreadable cluster control message ignored');
      return;
    }
    if (m.data.from === this.opts.nodeId) return;
    this.opts.onRemoval({ room: m.data.room, peerId: m.data.peerId, byRole: m.data.byRole, ban: m.data.ban, reason: m.data.reason });
  }
}
