import { randomUUID } from 'node:crypto';
import type { SharedChatLog, SharedChatUpdate } from '../chat/roomChat.js';
import type { ChatEvent, ChatMessage, ChatSync } from '../protocol/messages.js';
import { ClusterKeys } from './keys.js';
import { LuaScript, type RedisConnection } from './redis.js';

export interface ChatStreamOptions {
  /** Messages kept for a joining client's snapshot (CHAT_HISTORY). */
  history: number;
  /** Events kept for replay to reconnecting clients. Default max(100, 4 × history), as ChatLog. */
  journal?: number;
  /**
   * A room's chat keys expire after this long without a message, delete, clear or sync
   * (ms). Default 7 days. An expired room starts again with a new epoch.
   */
  idleTtlMs?: number;
  keys?: ClusterKeys;
}

/** What a node's subscription hands to its fan-out, in sequence order (chat/roomChat.ts defines it). */
export type ChatStreamUpdate = SharedChatUpdate;

// ─── Lua ────────────────────────────────────────────────────────────────────────────
// KEYS: 1 meta (hash epoch, seq), 2 log (stream), 3 history (list).
// ARGV: 1 a fresh epoch (used only when the room has none), 2 idle ttl (ms), then per script.
//
// The sequence is HINCRBY on the meta hash; the stream entry id is 0-<seq>, so the stream
// is ordered by sequence and XRANGE 0-<n> + returns the events from n on. Each script runs
// atomically: appends from several nodes never interleave, and PUBLISH inside the script
// puts events on the channel in sequence order (a publish after the script returned could
// overtake another node's).
//
// Serialized forms are built here by concatenation around the sequence number, so the
// stored, replayed and published JSON of an event is one and the same string.

const PRELUDE = `
local function ensure_epoch()
  local epoch = redis.call('HGET', KEYS[1], 'epoch')
  if not epoch then
    -- No epoch: a new room, or its meta expired or was lost. Whatever is left of the
    -- old log belongs to a sequence that is gone.
    redis.call('DEL', KEYS[2], KEYS[3])
    redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'seq', 0)
    epoch = ARGV[1]
  end
  return epoch
end
local function touch()
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
local function record(epoch, seq, event, journal, channel)
  redis.call('XADD', KEYS[2], 'MAXLEN', journal, '0-' .. seq, 'e', event)
  touch()
  redis.call('PUBLISH', channel, '{"epoch":"' .. epoch .. '","event":' .. event .. '}')
end
`;

// ARGV: 3 journal, 4 history, 5 channel, 6 message JSON before seq, 7 message JSON after seq.
const APPEND = new LuaScript(
  `${PRELUDE}
local epoch = ensure_epoch()
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local msg = ARGV[6] .. seq .. ARGV[7]
redis.call('RPUSH', KEYS[3], msg)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[4]), -1)
record(epoch, seq, '{"type":"message","seq":' .. seq .. ',"message":' .. msg .. '}', ARGV[3], ARGV[5])
return {epoch, seq}`,
  3,
);

// ARGV: 3 journal, 4 (unused), 5 channel, 6 '{"id":<id JSON>,' (how the message's JSON starts), 7 id JSON.
const DELETE = new LuaScript(
  `${PRELUDE}
local epoch = ensure_epoch()
local found
for _, m in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if string.sub(m, 1, #ARGV[6]) == ARGV[6] then found = m break end
end
if not found then return false end
redis.call('LREM', KEYS[3], 1, found)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
record(epoch, seq, '{"type":"delete","seq":' .. seq .. ',"id":' .. ARGV[7] .. '}', ARGV[3], ARGV[5])
return {epoch, seq}`,
  3,
);

// ARGV: 3 journal, 4 (unused), 5 channel.
const CLEAR = new LuaScript(
  `${PRELUDE}
local epoch = ensure_epoch()
redis.call('DEL', KEYS[3])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
record(epoch, seq, '{"type":"clear","seq":' .. seq .. '}', ARGV[3], ARGV[5])
return {epoch, seq}`,
  3,
);

// ARGV: 3 since (-1: none). Returns {epoch, seq, oldest journal seq or -1, history, events after since}.
const SYNC = new LuaScript(
  `${PRELUDE}
local epoch = ensure_epoch()
touch()
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = -1
if #first > 0 then oldest = tonumber(string.sub(first[1][1], 3)) end
local events = {}
local since = tonumber(ARGV[3])
if since >= 0 and since < seq then
  for _, e in ipairs(redis.call('XRANGE', KEYS[2], '0-' .. (since + 1), '+')) do table.insert(events, e[2][2]) end
end
return {epoch, seq, oldest, redis.call('LRANGE', KEYS[3], 0, -1), events}`,
  3,
);

/**
 * One room's chat for the whole cluster, in Redis: the last `history` messages, a journal
 * of events (message, delete, clear) in a Redis Stream, all numbered by one integer
 * sequence per room that every node shares, and an epoch that changes when Redis loses
 * the room's chat (so clients holding old sequence numbers get a snapshot).
 *
 * Every event is published once on the room's channel by the script that records it;
 * each node `subscribe`s once per room and fans out to its own viewers.
 *
 * Semantics follow ChatLog (same `sync` rules), as promises. Calls reject at once while
 * Redis is away (see RedisConnection).
 */
export class ChatStream implements SharedChatLog {
  readonly journal: number;
  private readonly idleTtlMs: number;
  private readonly k: ReturnType<ClusterKeys['chat']>;
  private readonly subscriptions = new Set<ChatSubscription>();

  constructor(
    private readonly redis: RedisConnection,
    readonly room: string,
    private readonly opts: ChatStreamOptions,
  ) {
    if (!Number.isInteger(opts.history) || opts.history < 1) throw new Error(`chat history must be an integer >= 1, got ${opts.history}`);
    this.journal = opts.journal ?? Math.max(100, opts.history * 4);
    if (!Number.isInteger(this.journal) || this.journal < 1) throw new Error(`chat journal must be an integer >= 1, got ${this.journal}`);
    this.idleTtlMs = opts.idleTtlMs ?? 7 * 24 * 3600 * 1000;
    this.k = (opts.keys ?? new ClusterKeys()).chat(room);
  }

  /** Appends a message; resolves to it with the epoch (the `chatMessage` notification's payload). */
  async append(from: { peerId: string; name: string; role: ChatMessage['role'] }, text: string): Promise<ChatMessage & { epoch: string }> {
    const id = randomUUID();
    const ts = Date.now();
    const rest = { ts, peerId: from.peerId, name: from.name, role: from.role, text };
    // ChatMessage's field order: id, seq, ts, peerId, name, role, text.
    const head = `{"id":${JSON.stringify(id)},"seq":`;
    const tail = `,${JSON.stringify(rest).slice(1)}`;
    const [epoch, seq] = await this.write(APPEND, [this.opts.history, this.k.channel, head, tail]);
    return { id, seq, ...rest, epoch };
  }

  /** Removes a message from history for everyone; undefined when it is unknown or already gone from history. */
  async delete(id: string): Promise<{ id: string; seq: number } | undefined> {
    const idJson = JSON.stringify(id);
    const reply = await this.writeOrNull(DELETE, [0, this.k.channel, `{"id":${idJson},`, idJson]);
    return reply ? { id, seq: reply[1] } : undefined;
  }

  async clear(): Promise<{ seq: number }> {
    const [, seq] = await this.write(CLEAR, [0, this.k.channel]);
    return { seq };
  }

  /**
   * What a (re)joining client needs: a snapshot, or only the events after `since` — the
   * same rules as ChatLog.sync, against the cluster-wide sequence. `epoch` is the one
   * `since` came from; another epoch's sequence is ignored (a fresh snapshot, no gap).
   */
  async sync(since?: number, epoch?: string): Promise<ChatSync> {
    const sinceArg = since !== undefined && Number.isSafeInteger(since) && since >= 0 ? since : -1;
    const reply = (await SYNC.run(this.redis.client, this.keyList(), [randomUUID(), this.idleTtlMs, sinceArg])) as [string, number, number, string[], string[]];
    const [current, seq, oldestRaw, historyRaw, eventsRaw] = reply;
    const messages = () => historyRaw.map((m) => JSON.parse(m) as ChatMessage);
    const base = { lastSeq: seq, epoch: current };
    if (epoch !== undefined && epoch !== current) return { snapshot: messages(), events: [], gap: false, ...base };
    if (since === undefined || !(since <= seq)) {
      // A fresh join, or a sequence this epoch never issued.
      return { snapshot: messages(), events: [], gap: since !== undefined, ...base };
    }
    if (since === seq) return { snapshot: null, events: [], gap: false, ...base };
    const oldest = oldestRaw >= 0 ? oldestRaw : seq + 1;
    if (oldest > since + 1 || sinceArg < 0) return { snapshot: messages(), events: [], gap: true, ...base };
    return { snapshot: null, events: eventsRaw.map((e) => JSON.parse(e) as ChatEvent), gap: false, ...base };
  }

  /** The room's last sequence number (0 before its first event). */
  async lastSeq(): Promise<number> {
    return Number((await this.redis.client.hget(this.k.meta, 'seq')) ?? 0);
  }

  /** Messages in history. */
  async size(): Promise<number> {
    return this.redis.client.llen(this.k.history);
  }

  /**
   * Follows the room: `handler` gets every event from now on, once each and in sequence
   * order, including those this node missed while Redis (or its pub/sub connection) was
   * away — replayed from the journal, or as one `resync` when they cannot be.
   * One subscription per room per node; the node fans out to its viewers.
   */
  subscribe(handler: (update: ChatStreamUpdate) => void, opts: { onError?: (err: Error) => void } = {}): ChatSubscription {
    const sub = new ChatSubscription(this, this.redis, this.k.channel, handler, opts.onError ?? (() => {}), () => this.subscriptions.delete(sub));
    this.subscriptions.add(sub);
    return sub;
  }

  /** Ends this stream's subscriptions (the chat in Redis stays). */
  close(): void {
    for (const s of [...this.subscriptions]) s.close();
  }

  private keyList(): string[] {
    return [this.k.meta, this.k.log, this.k.history];
  }

  private async write(script: LuaScript, args: (string | number)[]): Promise<[string, number]> {
    const reply = await this.writeOrNull(script, args);
    if (!reply) throw new Error('chat script returned nothing');
    return reply;
  }

  private async writeOrNull(script: LuaScript, args: (string | number)[]): Promise<[string, number] | null> {
    const reply = await script.run(this.redis.client, this.keyList(), [randomUUID(), this.idleTtlMs, this.journal, ...args]);
    return (reply as [string, number] | null) ?? null;
  }
}

/**
 * A node's subscription to one room's chat. Events are handled one at a time: a gap in
 * the sequence (or a new epoch) is filled from the stream before anything later is passed
 * on, and after every (re)subscription the subscription catches up from its last sequence.
 */
export class ChatSubscription {
  private epochValue: string | undefined;
  private lastSeqValue = 0;
  private chain: Promise<void> = Promise.resolve();
  private closedValue = false;
  private readonly stopListening: () => void;
  private readonly onConnected = () => this.enqueue(() => this.catchUp());
  private resolveReady!: () => void;
  /** Resolves once the subscription is active and knows where the room's sequence stands: events appended after this reach the handler. */
  readonly ready: Promise<void>;

  constructor(
    private readonly stream: ChatStream,
    private readonly redis: RedisConnection,
    channel: string,
    private readonly handler: (update: ChatStreamUpdate) => void,
    private readonly onError: (err: Error) => void,
    private readonly onClose: () => void,
  ) {
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    this.stopListening = redis.subscribe(channel, {
      message: (payload) => this.enqueue(() => this.onPayload(payload)),
      subscribed: () => this.enqueue(() => this.catchUp()),
    });
    // The command connection may come back after the pub/sub one: catch up again then.
    redis.on('connected', this.onConnected);
  }

  /** The epoch of the last event passed on (undefined before `ready`). */
  get epoch(): string | undefined {
    return this.epochValue;
  }

  /** The sequence of the last event passed on. */
  get lastSeq(): number {
    return this.lastSeqValue;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  close(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.stopListening();
    this.redis.off('connected', this.onConnected);
    this.resolveReady();
    this.onClose();
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain
      .then(() => (this.closedValue ? undefined : task()))
      .catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
  }

  private async onPayload(payload: string): Promise<void> {
    let parsed: { epoch: string; event: ChatEvent };
    try {
      parsed = JSON.parse(payload) as { epoch: string; event: ChatEvent };
    } catch {
      throw new Error(`unreadable chat payload on ${this.stream.room}: ${payload.slice(0, 100)}`);
    }
    if (this.epochValue === undefined) await this.catchUp();
    if (this.epochValue === undefined) return; // catchUp failed: the next trigger retries
    if (parsed.epoch !== this.epochValue || parsed.event.seq > this.lastSeqValue + 1) {
      // A new epoch or a hole: the stream has this event and everything before it.
      await this.catchUp();
      return;
    }
    if (parsed.event.seq <= this.lastSeqValue) return; // already passed on (by a catch-up)
    this.lastSeqValue = parsed.event.seq;
    this.deliver({ type: 'event', epoch: parsed.epoch, event: parsed.event });
  }

  private async catchUp(): Promise<void> {
    const first = this.epochValue === undefined;
    const s = await this.stream.sync(first ? undefined : this.lastSeqValue, this.epochValue);
    if (this.closedValue) return;
    this.epochValue = s.epoch;
    this.lastSeqValue = s.lastSeq;
    if (first) {
      this.resolveReady(); // the starting point: nothing before it is passed on
      return;
    }
    if (s.snapshot !== null) {
      this.deliver({ type: 'resync', sync: s });
      return;
    }
    for (const event of s.events) this.deliver({ type: 'event', epoch: s.epoch, event });
  }

  private deliver(update: ChatStreamUpdate): void {
    try {
      this.handler(update);
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
