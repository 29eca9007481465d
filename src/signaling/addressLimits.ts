import { TokenBucket } from '../util/tokenBucket.js';

/**
 * What one client address holds across its connections: open sockets and a chat
 * budget. Chat state lives here and on the connection, never on a join, so leaving
 * and joining again (or opening another socket) does not refill it.
 */
export class AddressLimits {
  private readonly connections = new Map<string, number>();
  private readonly chat = new Map<string, { bucket: TokenBucket; last: number }>();
  private nextSweep = 0;

  constructor(
    private readonly opts: {
      /** Signaling connections one address may hold open. */
      maxConnections: number;
      /** Chat messages per second and burst for all connections of one address. */
      chatRate: { perSecond: number; burst: number };
    },
    private readonly now: () => number = () => performance.now(),
  ) {}

  connectionsOf(address: string): number {
    return this.connections.get(address) ?? 0;
  }

  connectionsFull(address: string): boolean {
    return this.connectionsOf(address) >= this.opts.maxConnections;
  }

  /** Counts a connection of `address`; false (and nothing counted) when it is at its limit. */
  openConnection(address: string): boolean {
    if (this.connectionsFull(address)) return false;
    this.connections.set(address, this.connectionsOf(address) + 1);
    return true;
  }

  closeConnection(address: string): void {
    const n = this.connectionsOf(address) - 1;
    if (n > 0) this.connections.set(address, n);
    else this.connections.delete(address);
  }

  /** Takes one chat message from `address`'s budget. */
  takeChat(address: string): boolean {
    const t = this.now();
    this.sweep(t);
    let entry = this.chat.get(address);
    if (!entry) this.chat.set(address, (entry = { bucket: new TokenBucket(this.opts.chatRate.perSecond, this.opts.chatRate.burst, this.now), last: t }));
    entry.last = t;
    return entry.bucket.take();
  }

  // A bucket untouched long enough to be full again is the same as none: forget it.
  private sweep(t: number): void {
    if (t < this.nextSweep) return;
    const refillMs = (this.opts.chatRate.burst / this.opts.chatRate.perSecond) * 1000;
    this.nextSweep = t + Math.max(10_000, refillMs);
    for (const [a, e] of this.chat) if (t - e.last > refillMs) this.chat.delete(a);
  }
}
