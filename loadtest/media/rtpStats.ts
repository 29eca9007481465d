/**
 * Receiver-side statistics of one RTP stream, after RFC 3550 (appendix A.1,
 * A.3, A.8): extended highest sequence number with wrap-around, expected vs
 * received (so a reordered packet is not loss: it still arrives and counts),
 * and interarrival jitter in timestamp units. Cheap enough for ~100k packets/s
 * in one Node process.
 */

/** A jump of at least this many sequence numbers is a restart, not loss (RFC 3550 MAX_DROPOUT). */
const MAX_DROPOUT = 3000;
/** A packet up to this far behind the highest one is late (reordered), not a restart (RFC 3550 MAX_MISORDER). */
const MAX_MISORDER = 100;

export interface RtpStreamSnapshot {
  key: string;
  ssrc: number;
  port: number;
  clockRate: number;
  received: number;
  expected: number;
  /** expected - received, never below 0 (duplicates can make received exceed expected). */
  lost: number;
  /** Packets that arrived after a higher sequence number (reorders; not loss). */
  late: number;
  /** Sequence restarts (jumps past MAX_DROPOUT). */
  restarts: number;
  bytes: number;
  /** RFC 3550 interarrival jitter, in ms. */
  jitterMs: number;
  /** performance.now() of the first and last packet; -1 before any. */
  firstMs: number;
  lastMs: number;
}

export class RtpStreamStats {
  received = 0;
  bytes = 0;
  late = 0;
  restarts = 0;
  firstMs = -1;
  lastMs = -1;
  private baseSeq = -1;
  private maxSeq = 0;
  private cycles = 0;
  /** Expected packets of sequences before a restart. */
  private expectedBefore = 0;
  private lastTs = 0;
  private lastArrivalUnits = 0;
  /** In timestamp units (RFC 3550 J). */
  private jitterUnits = 0;
  private readonly unitsPerMs: number;

  constructor(
    readonly ssrc: number,
    readonly clockRate: number,
    readonly port = 0,
  ) {
    this.unitsPerMs = clockRate / 1000;
  }

  /** One RTP packet: its sequence number, timestamp, size, and arrival time (performance.now()). */
  onPacket(seq: number, ts: number, bytes: number, nowMs: number): void {
    this.received++;
    this.bytes += bytes;
    const arrivalUnits = nowMs * this.unitsPerMs;
    if (this.baseSeq < 0) {
      this.baseSeq = seq;
      this.maxSeq = seq;
      this.firstMs = nowMs;
    } else {
      const delta = (seq - this.maxSeq) & 0xffff;
      if (delta === 0) {
        // A duplicate: counted as received, as RFC 3550 does.
      } else if (delta < MAX_DROPOUT) {
        if (seq < this.maxSeq) this.cycles += 0x10000;
        this.maxSeq = seq;
      } else if (0x10000 - delta <= MAX_MISORDER) {
        this.late++;
      } else {
        // A restart: close the old run, begin a new one here.
        this.expectedBefore += this.cycles + this.maxSeq - this.baseSeq + 1;
        this.baseSeq = seq;
        this.maxSeq = seq;
        this.cycles = 0;
        this.restarts++;
      }
      // D(i-1,i) = (Rj - Ri) - (Sj - Si), with the timestamp difference taken as a signed 32-bit number (wrap-safe).
      const d = arrivalUnits - this.lastArrivalUnits - ((ts - this.lastTs) | 0);
      this.jitterUnits += (Math.abs(d) - this.jitterUnits) / 16;
    }
    this.lastTs = ts;
    this.lastArrivalUnits = arrivalUnits;
    this.lastMs = nowMs;
  }

  get expected(): number {
    return this.baseSeq < 0 ? 0 : this.expectedBefore + this.cycles + this.maxSeq - this.baseSeq + 1;
  }

  get lost(): number {
    return Math.max(0, this.expected - this.received);
  }

  get jitterMs(): number {
    return this.jitterUnits / this.unitsPerMs;
  }

  snapshot(key: string): RtpStreamSnapshot {
    return {
      key,
      ssrc: this.ssrc,
      port: this.port,
      clockRate: this.clockRate,
      received: this.received,
      expected: this.expected,
      lost: this.lost,
      late: this.late,
      restarts: this.restarts,
      bytes: this.bytes,
      jitterMs: this.jitterMs,
      firstMs: this.firstMs,
      lastMs: this.lastMs,
    };
  }
}

/** RFC 5761: RTCP packet types 192-223 share the second byte with RTP payload types. */
export function isRtcp(packet: Uint8Array): boolean {
  const pt = packet[1] ?? 0;
  return pt >= 192 && pt <= 223;
}

export interface WindowStats {
  streams: number;
  /** Streams that received nothing in the window. */
  silent: number;
  received: number;
  expected: number;
  lost: number;
  lossRatio: number;
  bytes: number;
  seconds: number;
  packetsPerSecond: number;
  bitsPerSecond: number;
  /** Per-stream packets/s: mean, min, max. */
  perStreamPps: { mean: number; min: number; max: number };
  /** Per-stream jitter at the end of the window (ms): mean, p95, max. */
  jitterMs: { mean: number; p95: number; max: number };
}

/**
 * What happened between two snapshots of the same streams (a stream missing
 * from `before` starts from zero). Loss is counted only over packets the
 * window expected: a stream's gaps before its first packet are not loss.
 */
export function windowStats(before: RtpStreamSnapshot[], after: RtpStreamSnapshot[], seconds: number): WindowStats {
  const prev = new Map(before.map((s) => [s.key, s]));
  let received = 0;
  let expected = 0;
  let bytes = 0;
  let silent = 0;
  const pps: number[] = [];
  const jitter: number[] = [];
  for (const a of after) {
    const b = prev.get(a.key);
    const r = a.received - (b?.received ?? 0);
    const e = a.expected - (b?.expected ?? 0);
    received += r;
    expected += Math.max(e, r);
    bytes += a.bytes - (b?.bytes ?? 0);
    if (r === 0) silent++;
    pps.push(r / seconds);
    if (a.received > 1) jitter.push(a.jitterMs);
  }
  const lost = Math.max(0, expected - received);
  jitter.sort((x, y) => x - y);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
  return {
    streams: after.length,
    silent,
    received,
    expected,
    lost,
    lossRatio: expected > 0 ? lost / expected : 0,
    bytes,
    seconds,
    packetsPerSecond: received / seconds,
    bitsPerSecond: (bytes * 8) / seconds,
    perStreamPps: { mean: mean(pps), min: pps.length ? Math.min(...pps) : 0, max: pps.length ? Math.max(...pps) : 0 },
    jitterMs: { mean: mean(jitter), p95: jitter.length ? jitter[Math.min(jitter.length - 1, Math.ceil(0.95 * jitter.length) - 1)]! : 0, max: jitter.at(-1) ?? 0 },
  };
}
