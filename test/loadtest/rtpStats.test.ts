import { describe, expect, it } from 'vitest';
import { RtpStreamStats, windowStats } from '../../loadtest/media/rtpStats.js';

describe('RtpStreamStats (RFC 3550 receiver statistics)', () => {
  const feed = (s: RtpStreamStats, seqs: number[], step = 3000, msPerPacket = 1000 / 30) =>
    seqs.forEach((seq, i) => s.onPacket(seq & 0xffff, (i * step) >>> 0, 1000, i * msPerPacket));

  it('counts gaps as loss across the 16-bit wrap', () => {
    const s = new RtpStreamStats(1, 90000);
    const seqs = Array.from({ length: 200 }, (_, i) => 65500 + i).filter((x) => x !== 65530 && x !== 65540);
    feed(s, seqs);
    expect(s.expected).toBe(200);
    expect(s.received).toBe(198);
    expect(s.lost).toBe(2);
  });

  it('does not count reordered packets as loss', () => {
    const s = new RtpStreamStats(1, 90000);
    feed(s, [10, 11, 13, 12, 14, 16, 15, 17]);
    expect(s.lost).toBe(0);
    expect(s.late).toBe(2);
    expect(s.expected).toBe(8);
  });

  it('treats a big jump as a restart, not as thousands of lost packets', () => {
    const s = new RtpStreamStats(1, 90000);
    feed(s, [100, 101, 102, 40000, 40001, 40003]);
    expect(s.restarts).toBe(1);
    expect(s.expected).toBe(3 + 4);
    expect(s.lost).toBe(1);
  });

  it('has zero jitter for perfectly paced packets and measures it in ms otherwise', () => {
    const paced = new RtpStreamStats(1, 90000);
    feed(paced, Array.from({ length: 100 }, (_, i) => i));
    expect(paced.jitterMs).toBeCloseTo(0, 6);

    const jittery = new RtpStreamStats(1, 48000);
    // 20 ms audio frames arriving alternately 5 ms early and late: |D| = 10 ms, J converges to 10 ms.
    for (let i = 0; i < 400; i++) jittery.onPacket(i, i * 960, 100, i * 20 + (i % 2 ? 5 : -5));
    expect(jittery.jitterMs).toBeGreaterThan(9.5);
    expect(jittery.jitterMs).toBeLessThan(10.01);
  });

  it('windows count only what the window expected', () => {
    const s = new RtpStreamStats(7, 90000, 5000);
    feed(s, [1, 2, 3]);
    const a = [s.snapshot('k')];
    [5, 6, 8].forEach((seq, i) => s.onPacket(seq, (3 + i) * 3000, 1000, 100 + i));
    const w = windowStats(a, [s.snapshot('k')], 2);
    expect(w).toMatchObject({ received: 3, expected: 5, lost: 2, streams: 1, silent: 0, packetsPerSecond: 1.5 });
    expect(w.lossRatio).toBeCloseTo(0.4);
    // A stream that appears in the window starts from its first packet.
    const fresh = new RtpStreamStats(8, 90000);
    feed(fresh, [500, 501]);
    expect(windowStats([], [fresh.snapshot('f')], 1)).toMatchObject({ expected: 2, lost: 0 });
  });
});
