import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { Peer, PeerMediaUnit } from '../../src/rooms/peer.js';
import type { RoomMediaPort } from '../../src/rooms/room.js';
import type { MediaSource } from '../../src/protocol/messages.js';
import { ProtocolError } from '../../src/protocol/messages.js';

/**
 * A stand-in for media/ in Room unit tests: no worker, no router. It behaves like
 * the real units where Room depends on it (one producer per source, closed units
 * refuse, producers close with their unit) and lets a test hold a produce open
 * (`gate`) to interleave requests the way a pipelined client does.
 */
export class FakeProducer {
  readonly id: string;
  paused = false;
  closed = false;
  readonly observer = new EventEmitter();
  constructor(readonly kind: ms.MediaKind) {
    this.id = `producer-${Math.random().toString(36).slice(2, 10)}`;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.observer.emit('close');
  }
  async pause(): Promise<void> {
    this.paused = true;
  }
  async resume(): Promise<void> {
    this.paused = false;
  }
}

export class FakePeerMedia extends EventEmitter {
  closed = false;
  readonly producers = new Map<string, { producer: FakeProducer; source: MediaSource }>();
  readonly transports = new Map<string, never>();
  readonly consumers = new Map<string, never>();
  readonly recvRouter = undefined;
  producing = 0;
  /** Set to hold every produce until the promise resolves. */
  gate: Promise<void> | undefined;
  resets = 0;
  /** Routers whose loss affects this unit (see FakeRoomMedia.loseRouter). */
  readonly routers = new Set<unknown>();

  constructor(readonly peerId: string) {
    super();
  }

  async produce(_transport: unknown, req: { kind: ms.MediaKind; source: MediaSource; paused?: boolean }): Promise<FakeProducer> {
    if (this.closed) throw new ProtocolError('invalid-state', 'you left the room while this request was running');
    if ([...this.producers.values()].some((p) => p.source === req.source)) throw new ProtocolError('invalid-state', `you already publish a ${req.source}`);
    this.producing++;
    try {
      await this.gate;
      const producer = new FakeProducer(req.kind);
      if (this.closed) {
        producer.close();
        throw new ProtocolError('invalid-state', 'you left the room while this request was running');
      }
      producer.paused = req.paused === true;
      this.producers.set(producer.id, { producer, source: req.source });
      producer.observer.once('close', () => this.producers.delete(producer.id));
      return producer;
    } finally {
      this.producing--;
    }
  }

  producer(producerId: string) {
    const p = this.producers.get(producerId);
    if (!p) throw new ProtocolError('not-found', `no producer ${producerId} of yours`);
    return p;
  }

  closeProducer(producerId: string): void {
    this.producer(producerId).producer.close();
  }

  closeProducers(): string[] {
    const ids = [...this.producers.keys()];
    for (const { producer } of [...this.producers.values()]) producer.close();
    return ids;
  }

  request<T>(promise: Promise<T>): Promise<T> {
    return promise;
  }

  affectedBy(rr: unknown): boolean {
    return this.routers.has(rr);
  }

  reset(): void {
    this.resets++;
    this.closeProducers();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeProducers();
  }
}

export class FakeRoomMedia extends EventEmitter {
  closed = false;
  readonly units = new Map<string, FakePeerMedia>();
  readonly rtpCapabilities = Promise.resolve({ codecs: [], headerExtensions: [] } as ms.RtpCapabilities);

  createPeerMedia(peerId: string): PeerMediaUnit {
    const unit = new FakePeerMedia(peerId);
    this.units.set(peerId, unit);
    return unit as unknown as PeerMediaUnit;
  }

  unitOf(peer: Peer): FakePeerMedia {
    return this.units.get(peer.id)!;
  }

  describeRouters(): { worker: number; viewers: number; origin: boolean }[] {
    return [];
  }

  /** A router died with its worker: units holding it are affected. */
  loseRouter(rr: { workerIndex: number }, wasOrigin: boolean): void {
    this.emit('routerlost', rr, wasOrigin);
  }

  close(): void {
    this.closed = true;
    for (const unit of this.units.values()) unit.close();
  }
}

/** Typed for Room's constructor. */
export function fakeRoomMedia(): FakeRoomMedia & RoomMediaPort {
  return new FakeRoomMedia() as FakeRoomMedia & RoomMediaPort;
}
