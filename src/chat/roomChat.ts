import { ProtocolError, type ChatEvent, type ChatMessage, type ChatSync, type Notifications, type ResponseData, type Role } from '../protocol/messages.js';
import { ChatLog, normaliseChatText } from './chatLog.js';

export interface ChatOptions {
  history: number;
  maxLength: number;
  ratePerSecond: number;
  burst: number;
}

/** Who is writing or moderating (a room's participant). */
export interface ChatAuthor {
  id: string;
  name: string;
  role: Role;
  isModerator: boolean;
}

/** What a node's follower of the shared log is handed, in sequence order. */
export type SharedChatUpdate =
  /** The next event of the room. */
  | { type: 'event'; epoch: string; event: ChatEvent }
  /** Events were missed beyond replay (or the log began a new epoch): start again from this snapshot. */
  | { type: 'resync'; sync: ChatSync };

/**
 * A room's chat log shared by every node of a cluster (cluster/chatStream.ts, in Redis):
 * the one sequence all nodes number by. Writes go there; each node follows it once per
 * room and fans out to its own participants.
 */
export interface SharedChatLog {
  append(from: { peerId: string; name: string; role: ChatMessage['role'] }, text: string): Promise<ChatMessage & { epoch: string }>;
  delete(id: string): Promise<{ id: string; seq: number } | undefined>;
  clear(): Promise<{ seq: number }>;
  sync(since?: number, epoch?: string): Promise<ChatSync>;
  subscribe(handler: (update: SharedChatUpdate) => void, opts?: { onError?: (err: Error) => void }): { readonly ready: Promise<void>; close(): void };
}

type ChatNotification = 'chatMessage' | 'chatDeleted' | 'chatCleared' | 'chatResync';

/** How long a join waits for the room's shared chat to load before answering with what the node has. */
const SHARED_READY_WAIT_MS = 2000;

/**
 * A room's chat policy over its sequenced log: what a line may contain, who may
 * delete or clear, and what the room is told. Rate limits are the connection's
 * (signaling), since they must outlive a leave + join.
 *
 * Alone, the log is this node's (`ChatLog`). In a cluster (`shared`), the log in Redis is
 * the truth and `log` is this node's replica of it: writes go to Redis, and the room hears
 * of every event, its own included, from the one subscription that also fills the replica
 * (so every node tells its participants the same events in the same order). Joins and
 * re-syncs are answered from the replica, and from Redis for what it cannot replay.
 */
export class RoomChat {
  readonly log: ChatLog;
  /** Resolves once the replica holds the shared log (at once without one). Never rejects. */
  readonly ready: Promise<void>;
  private readonly follower: { ready: Promise<void>; close(): void } | undefined;
  /** Events that arrived while the replica was loading, applied once it has. */
  private pending: ChatEvent[] | undefined = [];
  private reloading = false;

  constructor(
    private readonly opts: ChatOptions,
    private readonly broadcast: <N extends ChatNotification>(method: N, data: Notifications[N]) => void,
    private readonly shared?: SharedChatLog,
    private readonly hooks: { onError?: (err: Error) => void; /** A message went out to this node's participants (metrics). */ onMessageOut?: () => void } = {},
  ) {
    this.log = new ChatLog(opts.history);
    if (!shared) {
      this.pending = undefined;
      this.ready = Promise.resolve();
      return;
    }
    const follower = shared.subscribe((u) => this.onShared(u), { onError: (err) => this.onError(err) });
    this.follower = follower;
    this.ready = follower.ready.then(() => this.load());
  }

  get isShared(): boolean {
    return this.shared !== undefined;
  }

  async send(author: ChatAuthor, raw: string): Promise<ResponseData['chatSend']> {
    const text = normaliseChatText(raw);
    if (!text) throw new ProtocolError('bad-request', 'message is empty');
    if ([...text].length > this.opts.maxLength) throw new ProtocolError('too-large', `messages are limited to ${this.opts.maxLength} characters`);
    const from = { peerId: author.id, name: author.name, role: author.role };
    if (this.shared) {
      // The room hears of it from the subscription, in the cluster's order.
      const message = await this.shared.append(from, text).catch((err) => this.unavailable(err));
      return { id: message.id, seq: message.seq, ts: message.ts };
    }
    const message = this.log.append(from, text);
    this.broadcast('chatMessage', { ...message, epoch: this.log.epoch });
    this.hooks.onMessageOut?.();
    return { id: message.id, seq: message.seq, ts: message.ts };
  }

  /**
   * What a (re)joining client needs (ChatLog.sync's rules). In a cluster, what the replica
   * cannot replay (a client back from another node, or from before this node followed
   * the room) comes from Redis, topped up with what the replica got meanwhile.
   */
  async sync(since: number | undefined, epoch?: string): Promise<ChatSync> {
    if (!this.shared) return this.log.sync(since, epoch);
    await Promise.race([this.ready, new Promise((r) => setTimeout(r, SHARED_READY_WAIT_MS).unref())]);
    const local = this.log.sync(since, epoch);
    if (!local.gap) return local;
    const remote = await this.shared.sync(since, epoch).catch(() => undefined);
    // Checked after the await: the replica may have moved on (or started over) meanwhile.
    if (!remote || remote.epoch !== this.log.epoch) return this.log.sync(since, epoch);
    if (remote.lastSeq >= this.log.lastSeq) return remote; // the rest reaches the client as events; it drops repeats
    const more = this.log.eventsAfter(remote.lastSeq);
    if (!more) return this.log.sync(since, epoch);
    return { ...remote, events: [...remote.events, ...more], lastSeq: this.log.lastSeq };
  }

  /** Deletes a message for everyone. `by` is a participant, or undefined for the admin API. */
  async delete(messageId: string, by?: ChatAuthor): Promise<{ id: string; seq: number }> {
    if (by && !by.isModerator) throw new ProtocolError('forbidden', 'only moderators can delete messages');
    const deleted = this.shared ? await this.shared.delete(messageId).catch((err) => this.unavailable(err)) : this.log.delete(messageId);
    if (!deleted) throw new ProtocolError('not-found', `no message ${messageId} in this room's history`);
    if (!this.shared) this.broadcast('chatDeleted', deleted);
    return deleted;
  }

  async clear(by?: ChatAuthor): Promise<{ seq: number }> {
    if (by && by.role !== 'admin') throw new ProtocolError('forbidden', 'only admins can clear the chat');
    if (this.shared) return this.shared.clear().catch((err) => this.unavailable(err));
    const cleared = this.log.clear();
    this.broadcast('chatCleared', cleared);
    return cleared;
  }

  /** Stops following the shared log (the room closed); the log in Redis stays. */
  close(): void {
    this.follower?.close();
  }

  // ---- the replica --------------------------------------------------------------

  private async load(): Promise<void> {
    const s = await this.shared!.sync().catch((err: Error) => {
      this.onError(err);
      return undefined;
    });
    if (!s) {
      // Redis went away between subscribing and loading: the next resync will load it.
      this.pending = undefined;
      return;
    }
    this.log.reset(s.epoch, s.lastSeq, s.snapshot ?? []);
    const held = this.pending ?? [];
    this.pending = undefined;
    for (const e of held) this.applyEvent(s.epoch, e);
    // Participants who joined before the replica was loaded hold nothing of it.
    this.broadcast('chatResync', { epoch: this.log.epoch, lastSeq: this.log.lastSeq });
  }

  private onShared(u: SharedChatUpdate): void {
    if (u.type === 'resync') {
      this.log.reset(u.sync.epoch, u.sync.lastSeq, u.sync.snapshot ?? []);
      this.pending = undefined;
      this.broadcast('chatResync', { epoch: this.log.epoch, lastSeq: this.log.lastSeq });
      return;
    }
    if (this.pending) {
      this.pending.push(u.event);
      return;
    }
    this.applyEvent(u.epoch, u.event);
  }

  private applyEvent(epoch: string, e: ChatEvent): void {
    if (epoch === this.log.epoch && this.log.apply(e)) {
      if (e.type === 'message') {
        this.broadcast('chatMessage', { ...e.message, epoch });
        this.hooks.onMessageOut?.();
      }
      else if (e.type === 'delete') this.broadcast('chatDeleted', { id: e.id, seq: e.seq });
      else this.broadcast('chatCleared', { seq: e.seq });
      return;
    }
    if (epoch === this.log.epoch && e.seq <= this.log.lastSeq) return; // already applied (loaded with the snapshot)
    // Another epoch, or a hole (the replica started empty after a failed load): start again from Redis.
    void this.reload();
  }

  private onError(err: Error): void {
    this.hooks.onError?.(err);
  }

  /** A write the shared log could not take (Redis away): logged, and a typed error the client can show and retry. */
  private unavailable(err: unknown): never {
    this.onError(err instanceof Error ? err : new Error(String(err)));
    throw new ProtocolError('unavailable', 'chat is unavailable right now (the cluster store does not answer); try again shortly');
  }

  private async reload(): Promise<void> {
    if (this.reloading) return;
    this.reloading = true;
    this.pending = [];
    try {
      await this.load();
    } finally {
      this.reloading = false;
    }
  }
}
