import { randomUUID } from 'node:crypto';
import type { ChatEvent, ChatMessage, ChatSync } from '../protocol/messages.js';
import { hasVisibleText, limitCombiningMarks } from '../protocol/names.js';

/**
 * A room's chat: the last `history` messages plus a bounded journal of
 * events (message, delete, clear), all numbered by one monotonically
 * increasing sequence. A reconnecting client hands back the last sequence it
 * saw and gets exactly the events it missed, or a snapshot and `gap: true`
 * when they have fallen out of the journal.
 */
export class ChatLog {
  /**
   * Random per log: this log's sequence numbers mean nothing to a client that
   * holds another epoch's (a restarted server starts again at 0). A replica
   * takes the cluster's epoch (`reset`).
   */
  private epochValue: string = randomUUID();
  private seq = 0;
  private messages: ChatMessage[] = [];
  private events: ChatEvent[] = [];

  constructor(
    private readonly history: number,
    /** Journal length: enough to replay a short disconnection at chat speed. */
    private readonly journal = Math.max(100, history * 4),
  ) {}

  get epoch(): string {
    return this.epochValue;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The oldest sequence the journal can replay from (lastSeq + 1 when it is empty). */
  get journalStart(): number {
    return this.events[0]?.seq ?? this.seq + 1;
  }

  /** Journal events after `seq`, when the journal still holds them all; undefined otherwise. */
  eventsAfter(seq: number): ChatEvent[] | undefined {
    if (seq >= this.seq) return [];
    if (this.journalStart > seq + 1) return undefined;
    return this.events.filter((e) => e.seq > seq);
  }

  // ---- replica (cluster mode: the cluster's log in Redis is the truth) ----------------

  /** Starts over from a snapshot of another log: its epoch, sequence and messages; an empty journal. */
  reset(epoch: string, lastSeq: number, messages: ChatMessage[]): void {
    this.epochValue = epoch;
    this.seq = lastSeq;
    this.messages = messages.slice(-this.history);
    this.events = [];
  }

  /**
   * Applies the next event of the log this replicates. False (nothing changed) when it is
   * not the next one: already applied (seq <= lastSeq) or after a hole.
   */
  apply(e: ChatEvent): boolean {
    if (e.seq !== this.seq + 1) return false;
    this.seq = e.seq;
    if (e.type === 'message') {
      this.messages.push(e.message);
      if (this.messages.length > this.history) this.messages.shift();
    } else if (e.type === 'delete') {
      const i = this.messages.findIndex((m) => m.id === e.id);
      if (i >= 0) this.messages.splice(i, 1);
    } else this.messages = [];
    this.record(e);
    return true;
  }

  get size(): number {
    return this.messages.length;
  }

  append(from: { peerId: string; name: string; role: ChatMessage['role'] }, text: string): ChatMessage {
    const message: ChatMessage = { id: randomUUID(), seq: ++this.seq, ts: Date.now(), ...from, text };
    this.messages.push(message);
    if (this.messages.length > this.history) this.messages.shift();
    this.record({ type: 'message', seq: message.seq, message });
    return message;
  }

  /** Removes a message; undefined when it is unknown or already gone from history. */
  delete(id: string): { id: string; seq: number } | undefined {
    const i = this.messages.findIndex((m) => m.id === id);
    if (i < 0) return undefined;
    this.messages.splice(i, 1);
    const seq = ++this.seq;
    this.record({ type: 'delete', seq, id });
    return { id, seq };
  }

  clear(): { seq: number } {
    this.messages = [];
    const seq = ++this.seq;
    this.record({ type: 'clear', seq });
    return { seq };
  }

  /**
   * What a (re)joining client needs: a snapshot, or only the events after `since`.
   * `epoch` is the log `since` came from; another log's sequence is ignored (a fresh snapshot, no gap).
   */
  sync(since?: number, epoch?: string): ChatSync {
    const base = { lastSeq: this.seq, epoch: this.epoch };
    if (epoch !== undefined && epoch !== this.epoch) return { snapshot: [...this.messages], events: [], gap: false, ...base };
    if (since === undefined || since > this.seq) {
      // A fresh join, or a client that knows a sequence this log never issued (server restarted, old client).
      return { snapshot: [...this.messages], events: [], gap: since !== undefined && since > this.seq, ...base };
    }
    if (since === this.seq) return { snapshot: null, events: [], gap: false, ...base };
    const oldest = this.events[0]?.seq ?? this.seq + 1;
    if (oldest > since + 1) return { snapshot: [...this.messages], events: [], gap: true, ...base };
    return { snapshot: null, events: this.events.filter((e) => e.seq > since), gap: false, ...base };
  }

  private record(e: ChatEvent): void {
    this.events.push(e);
    if (this.events.length > this.journal) this.events.splice(0, this.events.length - this.journal);
  }
}

/**
 * Chat text as stored and shown: NFC, line and paragraph separators as newlines, no
 * control or format characters except newlines, at most three combining marks on a
 * character, at most two blank lines in a row, trimmed; empty when nothing visible is
 * left (only spaces, marks or blank look-alikes such as U+3164). The client renders it
 * as text, never as HTML.
 */
export function normaliseChatText(raw: string): string {
  const text = limitCombiningMarks(
    raw
      .normalize('NFC')
      .replace(/\r\n?|[\u2028\u2029]/g, '\n')
      .replace(/[^\P{Cc}\n]|\p{Cf}/gu, ''),
  )
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return hasVisibleText(text) ? text : '';
}
