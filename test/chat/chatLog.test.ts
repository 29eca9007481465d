import { describe, expect, it } from 'vitest';
import { ChatLog, normaliseChatText } from '../../src/chat/chatLog.js';

const from = { peerId: 'p', name: 'P', role: 'viewer' as const };

describe('ChatLog', () => {
  it('numbers every event and keeps the last N messages', () => {
    const log = new ChatLog(3);
    for (let i = 1; i <= 5; i++) log.append(from, `m${i}`);
    const s = log.sync();
    expect(s.snapshot!.map((m) => m.text)).toEqual(['m3', 'm4', 'm5']);
    expect(s.snapshot!.map((m) => m.seq)).toEqual([3, 4, 5]);
    expect(s.lastSeq).toBe(5);
  });

  it('replays exactly the events after `since`, deletes and clears included', () => {
    const log = new ChatLog(25);
    const a = log.append(from, 'a');
    log.append(from, 'b');
    log.delete(a.id);
    log.clear();
    log.append(from, 'c');
    const s = log.sync(2);
    expect(s.snapshot).toBeNull();
    expect(s.events.map((e) => e.type)).toEqual(['delete', 'clear', 'message']);
    expect(s.events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.sync(5)).toEqual({ snapshot: null, events: [], gap: false, lastSeq: 5, epoch: log.epoch });
  });

  it('says gap when the missed events are older than the journal', () => {
    const log = new ChatLog(2, 10);
    for (let i = 0; i < 30; i++) log.append(from, `m${i}`);
    const s = log.sync(5);
    expect(s.gap).toBe(true);
    expect(s.snapshot!.map((m) => m.text)).toEqual(['m28', 'm29']);
    expect(log.sync(20).gap).toBe(false);
  });

  it('treats a sequence from the future (server restarted) as a gap', () => {
    const log = new ChatLog(5);
    log.append(from, 'x');
    expect(log.sync(99)).toMatchObject({ gap: true, lastSeq: 1 });
  });

  it('ignores the sequence of another epoch (a restarted server’s new log): a fresh snapshot, no gap', () => {
    const before = new ChatLog(5);
    for (let i = 0; i < 6; i++) before.append(from, `old${i}`);
    const after = new ChatLog(5);
    expect(after.epoch).not.toBe(before.epoch);
    after.append(from, 'new0');
    const s = after.sync(6, before.epoch);
    expect(s).toMatchObject({ gap: false, lastSeq: 1, epoch: after.epoch, events: [] });
    expect(s.snapshot!.map((m) => m.text)).toEqual(['new0']);
    // Same epoch: the usual replay.
    after.append(from, 'new1');
    expect(after.sync(1, after.epoch).events.map((e) => e.seq)).toEqual([2]);
  });
});

describe('normaliseChatText', () => {
  it('drops control and format characters, keeps newlines, trims', () => {
    expect(normaliseChatText('  hi\u0000\u0007 there\u200b\r\n\n\n\nbye  ')).toBe('hi there\n\nbye');
  });
  it('composes to NFC', () => {
    expect(normaliseChatText('e\u0301')).toBe('\u00e9');
  });
  it('keeps markup as plain text (the client renders it as text)', () => {
    expect(normaliseChatText('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
  });
});
