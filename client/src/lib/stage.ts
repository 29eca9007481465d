import { Device } from 'mediasoup-client';
import type { types } from 'mediasoup-client';
import type { MediaSource, ProducerInfo, ResponseData, TransportInfo } from '../../../src/protocol/messages';
import { isRetriable } from './busy';
import { ServerError, type Signaling } from './signaling';

export interface StageOptions {
  signaling: Signaling;
  name?: string;
  /** Receive the other broadcasters (viewers and broadcasters both do). */
  receive: boolean;
  iceServers: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Last chat sequence seen, sent on (re)join so only missed chat comes back. */
  chatSince?: () => number | undefined;
  /** The chat log epoch `chatSince` belongs to (a restarted server has another). */
  chatEpoch?: () => string | undefined;
}

export interface StageEvents {
  joined: ResponseData['join'];
  publisherJoined: { peerId: string; name: string; guest?: boolean };
  publisherLeft: { peerId: string };
  track: { peerId: string; kind: 'audio' | 'video'; track: MediaStreamTrack; producerId: string };
  trackEnded: { peerId: string; kind: 'audio' | 'video'; producerId: string };
  trackPaused: { peerId: string; producerId: string; paused: boolean };
  speaker: { peerId: string | null };
  levels: { levels: { peerId: string; volume: number }[] };
  viewers: { count: number };
  reset: { reason: string };
  error: { message: string };
  /** A media transport's connection state (RTCPeerConnection's): `failed` is retried with an ICE restart. */
  transport: { direction: 'send' | 'recv'; state: types.ConnectionState };
  /** Everything was torn down for good (kicked, banned, room closed, link taken over). */
  stopped: Record<string, never>;
  /** Seats on stage changed (someone went live or left), or a seat freed for a waiting broadcaster. */
  seats: { taken: number; max: number; freed: boolean };
}

/** Counters of what this page receives from one broadcaster. */
export interface TileStats {
  videoBytes: number;
  audioBytes: number;
  packetsReceived: number;
  packetsLost: number;
  frameWidth: number;
  frameHeight: number;
  fps: number;
  jitterMs: number;
  /** Simulcast spatial layer received (0 lowest), null when unknown. */
  layer: number | null;
}

type Handler<K extends keyof StageEvents> = (e: StageEvents[K]) => void;

/** mediasoup-client transport options from the server's answer and the page's ICE servers (the stage's and a call's transports alike). */
export function transportOptions(t: TransportInfo, ice: { iceServers: RTCIceServer[]; iceTransportPolicy?: RTCIceTransportPolicy }): types.TransportOptions {
  return {
    id: t.transportId,
    iceParameters: t.iceParameters as types.IceParameters,
    iceCandidates: t.iceCandidates as types.IceCandidate[],
    dtlsParameters: t.dtlsParameters as types.DtlsParameters,
    iceServers: ice.iceServers,
    ...(ice.iceTransportPolicy ? { iceTransportPolicy: ice.iceTransportPolicy } : {}),
  };
}

// Three simulcast layers: viewers' tiles pick one, bandwidth estimation picks lower when needed.
const SIMULCAST: RTCRtpEncodingParameters[] = [
  { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

/**
 * The mediasoup-client side of a room: joins, receives every broadcaster,
 * publishes local tracks, and rebuilds transports after a media reset or a
 * reconnection without the page reloading.
 */
export class Stage {
  device: Device | undefined;
  info: ResponseData['join'] | undefined;
  /** Created on the first consume (a room with nobody on stage gives viewers no transport). */
  recvTransport: types.Transport | undefined;
  /** The receive transport being created for this media generation, shared by concurrent consumes. */
  private recvReady: Promise<types.Transport> | undefined;
  /** setupMedia ran for this generation: the device is loaded and the server has our capabilities. */
  private mediaUp = false;
  private sendTransport: types.Transport | undefined;
  private readonly consumers = new Map<string, { consumer: types.Consumer; peerId: string }>();
  private readonly consuming = new Set<string>();
  /** Consumes the server could not serve yet, by producer: attempts so far (the pause grows). */
  private readonly consumeRetries = new Map<string, number>();
  readonly publishers = new Map<string, { name: string; producers: Map<string, ProducerInfo> }>();
  private readonly local = new Map<MediaSource, { track: MediaStreamTrack; producer: types.Producer | undefined; paused: boolean }>();
  /** True after the first successful join: a re-join takes this link's seat back from a stale connection. */
  private joinedBefore = false;
  /** Torn down for good: no re-join, no re-publish. */
  private stoppedFlag = false;
  private readonly handlers = new Map<string, Set<(e: unknown) => void>>();
  private generation = 0;
  /** Spatial layer each consumer currently receives (simulcast), as the server reports it. */
  private readonly layers = new Map<string, number | null>();
  /** Last connection state of each media transport ('new' when there is none). */
  readonly transportState: Record<'send' | 'recv', types.ConnectionState> = { send: 'new', recv: 'new' };

  constructor(private readonly opts: StageOptions) {
    const s = opts.signaling;
    s.on('publisherJoined', (d) => {
      if (d.peerId === this.info?.peerId) return;
      if (!this.publishers.has(d.peerId)) this.publishers.set(d.peerId, { name: d.name, producers: new Map() });
      this.emit('publisherJoined', d);
      this.emitSeats(false);
    });
    s.on('publisherLeft', (d) => {
      const pub = this.publishers.get(d.peerId);
      if (!pub) return;
      for (const id of pub.producers.keys()) this.dropConsumer(id);
      this.publishers.delete(d.peerId);
      this.emit('publisherLeft', d);
      this.emitSeats(false);
    });
    s.on('seatAvailable', () => this.emitSeats(true));
    s.on('newProducer', (p) => {
      if (p.peerId === this.info?.peerId) return;
      const pub = this.publishers.get(p.peerId);
      pub?.producers.set(p.producerId, p);
      void this.consume(p);
    });
    s.on('producerClosed', (d) => {
      this.publishers.get(d.peerId)?.producers.delete(d.producerId);
      this.dropConsumer(d.producerId);
    });
    s.on('consumerClosed', (d) => this.dropConsumer(d.producerId));
    const setPaused = (d: { peerId: string; producerId: string }, paused: boolean) => {
      const p = this.publishers.get(d.peerId)?.producers.get(d.producerId);
      if (p) p.paused = paused;
      this.emit('trackPaused', { ...d, paused });
    };
    s.on('producerPaused', (d) => setPaused(d, true));
    s.on('producerResumed', (d) => setPaused(d, false));
    s.on('consumerLayersChanged', (d) => this.layers.set(d.consumerId, d.spatialLayer));
    s.on('activeSpeaker', (d) => this.emit('speaker', d));
    s.on('audioLevels', (d) => this.emit('levels', d));
    s.on('viewerCount', (d) => this.emit('viewers', d));
    s.on('mediaReset', (d) => {
      this.emit('reset', d);
      void this.rebuildMedia().catch((err) => this.fail(err));
    });
  }

  /** Seats taken on stage, this page's own included. */
  get seatsTaken(): number {
    return this.publishers.size + (this.isLive ? 1 : 0);
  }

  get maxPublishers(): number {
    return this.info?.maxPublishers ?? 4;
  }

  private emitSeats(freed: boolean): void {
    this.emit('seats', { taken: this.seatsTaken, max: this.maxPublishers, freed });
  }

  /** Called when the socket opens, drops or is refused. */
  onConnectivity(fn: () => void): void {
    this.opts.signaling.onState(() => fn());
  }

  /** Joined over an open socket: what the page shows is current. */
  get online(): boolean {
    return this.opts.signaling.isOpen && this.info !== undefined;
  }

  /** The broadcaster's producer of a kind, as announced (undefined: none). */
  producerOf(peerId: string, kind: 'audio' | 'video'): ProducerInfo | undefined {
    for (const p of this.publishers.get(peerId)?.producers.values() ?? []) if (p.kind === kind) return p;
    return undefined;
  }

  on<K extends keyof StageEvents>(name: K, fn: Handler<K>): void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(fn as (e: unknown) => void);
  }

  private emit<K extends keyof StageEvents>(name: K, e: StageEvents[K]): void {
    for (const fn of this.handlers.get(name) ?? []) fn(e);
  }

  private fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.emit('error', { message });
  }

  /** Loads the device ahead of joining when the router capabilities are known from the page's config. */
  preload(routerRtpCapabilities: unknown): Promise<void> {
    this.deviceReady ??= (async () => {
      const device = new Device();
      await device.load({ routerRtpCapabilities: routerRtpCapabilities as types.RtpCapabilities });
      this.device = device;
    })();
    return this.deviceReady;
  }
  private deviceReady: Promise<void> | undefined;

  /**
   * Joins (or re-joins after a reconnection) and sets up media. `takeOver`
   * moves this link's seat here from another connection (a re-join always does:
   * the old socket may still linger on the server).
   */
  async start(takeOver = false): Promise<void> {
    if (this.stoppedFlag) return;
    this.teardownMedia();
    this.publishers.clear();
    const chatSince = this.opts.chatSince?.();
    const chatEpoch = this.opts.chatEpoch?.();
    await this.deviceReady?.catch(() => undefined);
    const preloaded = this.device?.loaded ? this.device : undefined;
    const info = await this.opts.signaling.request('join', {
      ...(this.opts.name ? { name: this.opts.name } : {}),
      ...(chatSince !== undefined ? { chatSince } : {}),
      ...(chatEpoch !== undefined ? { chatEpoch } : {}),
      ...(takeOver || this.joinedBefore ? { takeOver: true } : {}),
      ...(preloaded ? { rtpCapabilities: preloaded.rtpCapabilities as never } : {}),
    });
    this.info = info;
    this.joinedBefore = true;
    if (!this.device?.loaded) {
      this.device = new Device();
      await this.device.load({ routerRtpCapabilities: info.routerRtpCapabilities as types.RtpCapabilities });
    }
    for (const p of info.publishers) this.publishers.set(p.peerId, { name: p.name, producers: new Map(p.producers.map((x) => [x.producerId, x])) });
    this.emit('joined', info);
    for (const p of info.publishers) this.emit('publisherJoined', { peerId: p.peerId, name: p.name, ...(p.guest ? { guest: true } : {}) });
    this.emitSeats(false);
    if (!preloaded) await this.opts.signaling.request('setRtpCapabilities', { rtpCapabilities: this.device.rtpCapabilities as never });
    await this.setupMedia();
  }

  /** Ends everything for good (kicked, banned, room closed): no media in or out, no re-join. */
  stop(): void {
    this.stoppedFlag = true;
    this.teardownMedia();
    this.local.clear();
    for (const peerId of [...this.publishers.keys()]) {
      this.publishers.delete(peerId);
      this.emit('publisherLeft', { peerId });
    }
    this.emit('speaker', { peerId: null });
    this.emit('stopped', {});
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  /** After a media reset: new transports, then consume and produce again. */
  private async rebuildMedia(): Promise<void> {
    this.teardownMedia();
    await this.setupMedia();
  }

  private async setupMedia(): Promise<void> {
    this.mediaUp = true;
    // The receive transport comes with the first producer to consume (receiveTransport).
    if (this.opts.receive) for (const pub of this.publishers.values()) for (const p of pub.producers.values()) void this.consume(p);
    for (const [source, l] of this.local) {
      l.producer = undefined;
      await this.produce(source, l.track);
    }
    if (this.local.size) this.emitSeats(false);
  }

  private teardownMedia(): void {
    this.generation++;
    this.mediaUp = false;
    this.recvReady = undefined;
    for (const { consumer, peerId } of this.consumers.values()) {
      consumer.close();
      this.emit('trackEnded', { peerId, kind: consumer.kind, producerId: consumer.producerId });
    }
    this.consumers.clear();
    this.consuming.clear();
    this.recvTransport?.close();
    this.sendTransport?.close();
    this.recvTransport = undefined;
    this.sendTransport = undefined;
    this.transportState.send = this.transportState.recv = 'new';
    for (const l of this.local.values()) l.producer = undefined;
  }

  private async createTransport(direction: 'send' | 'recv'): Promise<types.Transport> {
    const s = this.opts.signaling;
    const t = await s.request('createTransport', { direction });
    const options = transportOptions(t, this.opts);
    const transport = direction === 'send' ? this.device!.createSendTransport(options) : this.device!.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, ok, ko) => {
      s.request('connectTransport', { transportId: transport.id, dtlsParameters: dtlsParameters as never }).then(() => ok(), ko);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, ok, ko) => {
        s.request('produce', { transportId: transport.id, kind, rtpParameters: rtpParameters as never, source: appData.source as MediaSource })
          .then(({ producerId }) => ok({ id: producerId }), ko);
      });
    }
    let restarts = 0;
    let restartTimer: number | undefined;
    const restart = () => {
      if (transport.closed) return;
      s.request('restartIce', { transportId: transport.id })
        .then(({ iceParameters }) => transport.restartIce({ iceParameters: iceParameters as types.IceParameters }))
        .catch((err) => this.fail(err));
    };
    transport.on('connectionstatechange', (state) => {
      if (transport.closed) return;
      this.transportState[direction] = state;
      this.emit('transport', { direction, state });
      clearTimeout(restartTimer);
      if (state === 'connected') restarts = 0;
      // A failed path (network change, blocked port) is retried with fresh ICE
      // credentials, backing off to one attempt every 30 s.
      if (state === 'failed') restartTimer = window.setTimeout(restart, Math.min(30_000, 1000 * 2 ** restarts++));
    });
    transport.observer.on('close', () => clearTimeout(restartTimer));
    return transport;
  }

  /**
   * This generation's receive transport, created once, by the first consume: the server
   * gives a viewer none while nobody is on stage (no router until a broadcaster arrives).
   */
  private receiveTransport(): Promise<types.Transport> {
    if (this.recvTransport && !this.recvTransport.closed) return Promise.resolve(this.recvTransport);
    if (this.recvReady) return this.recvReady;
    const gen = this.generation;
    const ready = this.createTransport('recv').then((t) => {
      if (gen !== this.generation) {
        // A media reset came meanwhile: this one belongs to torn-down media.
        t.close();
        throw new Error('media was reset');
      }
      this.recvTransport = t;
      return t;
    });
    this.recvReady = ready;
    // A failed attempt is retried by the next consume.
    ready.catch(() => {
      if (this.recvReady === ready) this.recvReady = undefined;
    });
    return ready;
  }

  private async consume(p: ProducerInfo): Promise<void> {
    if (!this.opts.receive || !this.mediaUp || this.consuming.has(p.producerId) || this.consumers.has(p.producerId)) return;
    this.consuming.add(p.producerId);
    const gen = this.generation;
    try {
      const transport = await this.receiveTransport();
      if (gen !== this.generation || transport.closed) return;
      const c = await this.opts.signaling.request('consume', { producerId: p.producerId });
      if (gen !== this.generation || transport.closed) return;
      const consumer = await transport.consume({
        id: c.consumerId,
        producerId: c.producerId,
        kind: c.kind,
        rtpParameters: c.rtpParameters as types.RtpParameters,
      });
      this.consumers.set(p.producerId, { consumer, peerId: c.peerId });
      await this.opts.signaling.request('resumeConsumer', { consumerId: c.consumerId });
      this.emit('track', { peerId: c.peerId, kind: c.kind, track: consumer.track, producerId: p.producerId });
    } catch (err) {
      // Media was reset, or the producer closed (its broadcaster may have left the stage) meanwhile: not worth an error banner.
      const gone = gen !== this.generation || !this.publishers.get(p.peerId)?.producers.has(p.producerId);
      if (!gone && isRetriable(err)) this.retryConsume(p, gen);
      else if (!gone && !(err instanceof ServerError && err.code === 'not-found')) this.fail(err);
    } finally {
      this.consuming.delete(p.producerId);
    }
  }

  /**
   * A consume the server could not serve now (its media server slow, restarting or full):
   * asked again after a growing pause (1 s … 15 s) while the broadcaster is still on stage,
   * so a viewer never stays without one broadcaster because of one slow moment.
   */
  private retryConsume(p: ProducerInfo, gen: number): void {
    const n = (this.consumeRetries.get(p.producerId) ?? 0) + 1;
    this.consumeRetries.set(p.producerId, n);
    window.setTimeout(() => {
      if (gen !== this.generation || !this.publishers.get(p.peerId)?.producers.has(p.producerId)) return;
      void this.consume(p).then(() => {
        if (this.consumers.has(p.producerId)) this.consumeRetries.delete(p.producerId);
      });
    }, Math.min(15_000, 1000 * 2 ** (n - 1)));
  }

  private dropConsumer(producerId: string): void {
    const entry = this.consumers.get(producerId);
    if (!entry) return;
    entry.consumer.close();
    this.consumers.delete(producerId);
    this.emit('trackEnded', { peerId: entry.peerId, kind: entry.consumer.kind, producerId });
  }

  /** Video tiles ask for the simulcast layer that fits their size. */
  setPreferredLayer(peerId: string, spatialLayer: 0 | 1 | 2): void {
    for (const { consumer, peerId: owner } of this.consumers.values()) {
      if (owner !== peerId || consumer.kind !== 'video') continue;
      void this.opts.signaling.request('setPreferredLayers', { consumerId: consumer.id, spatialLayer }).catch(() => undefined);
    }
  }

  // ---- publishing -------------------------------------------------------------

  async publish(source: MediaSource, track: MediaStreamTrack): Promise<void> {
    const existing = this.local.get(source);
    if (existing?.producer) {
      await existing.producer.replaceTrack({ track });
      existing.track = track;
      return;
    }
    this.local.set(source, { track, producer: undefined, paused: false });
    try {
      await this.produce(source, track);
    } catch (err) {
      this.local.delete(source);
      throw err;
    }
    this.emitSeats(false);
  }

  private async produce(source: MediaSource, track: MediaStreamTrack): Promise<void> {
    this.sendTransport ??= await this.createTransport('send');
    const producer = await this.sendTransport.produce({
      track,
      // The page owns its camera: a media reset must not stop the track it re-publishes.
      stopTracks: false,
      appData: { source },
      ...(source === 'camera' ? { encodings: SIMULCAST, codecOptions: { videoGoogleStartBitrate: 1000 } } : { codecOptions: { opusStereo: false, opusDtx: true } }),
    });
    const l = this.local.get(source);
    if (l) l.producer = producer;
    // Re-published after a reconnection or media reset: a muted source stays muted.
    if (l?.paused) {
      producer.pause();
      await this.opts.signaling.request('pauseProducer', { producerId: producer.id }).catch(() => undefined);
    }
  }

  async unpublish(source: MediaSource): Promise<void> {
    const l = this.local.get(source);
    this.local.delete(source);
    if (!l?.producer) return;
    const id = l.producer.id;
    l.producer.close();
    await this.opts.signaling.request('closeProducer', { producerId: id }).catch(() => undefined);
    this.emitSeats(false);
  }

  /** Pauses or resumes a published source; the server is asked first, so a refused resume (moderator mute) changes nothing. */
  async setMuted(source: MediaSource, muted: boolean): Promise<void> {
    const l = this.local.get(source);
    const producer = l?.producer;
    if (!l || !producer) return;
    if (!muted) await this.opts.signaling.request('resumeProducer', { producerId: producer.id });
    l.paused = muted;
    if (muted) producer.pause();
    else producer.resume();
    if (muted) await this.opts.signaling.request('pauseProducer', { producerId: producer.id });
  }

  /** Marks a source muted without asking the server (it muted it: a moderator). */
  markMuted(source: MediaSource): void {
    const l = this.local.get(source);
    if (!l) return;
    l.paused = true;
    l.producer?.pause();
  }

  /** Bytes the local producers have sent so far (RTCOutboundRtpStreamStats): growth means media flows. */
  async bytesSent(): Promise<number> {
    let total = 0;
    for (const l of this.local.values()) {
      if (!l.producer || l.producer.closed) continue;
      const report = await l.producer.getStats();
      report.forEach((r: Record<string, unknown>) => {
        if (r.type === 'outbound-rtp') total += Number(r.bytesSent ?? 0);
      });
    }
    return total;
  }

  get isLive(): boolean {
    return [...this.local.values()].some((l) => l.producer && !l.producer.closed);
  }

  /**
   * Receive-side numbers per broadcaster for the quality indicator and the
   * stats overlay (counters; the tile computes rates): what mediasoup-demo shows.
   */
  async receiveStats(): Promise<{ rttMs: number | null; peers: Record<string, TileStats> }> {
    const peers: Record<string, TileStats> = {};
    let rttMs: number | null = null;
    if (this.recvTransport && !this.recvTransport.closed) {
      const report = await this.recvTransport.getStats().catch(() => undefined);
      report?.forEach((r: Record<string, unknown>) => {
        if (r.type === 'candidate-pair' && r.nominated && typeof r.currentRoundTripTime === 'number') rttMs = Math.round(r.currentRoundTripTime * 1000);
      });
    }
    for (const { consumer, peerId } of this.consumers.values()) {
      if (consumer.closed) continue;
      const s = (peers[peerId] ??= { videoBytes: 0, audioBytes: 0, packetsReceived: 0, packetsLost: 0, frameWidth: 0, frameHeight: 0, fps: 0, jitterMs: 0, layer: null });
      const report = await consumer.getStats().catch(() => undefined);
      report?.forEach((r: Record<string, unknown>) => {
        if (r.type !== 'inbound-rtp') return;
        s.packetsReceived += Number(r.packetsReceived ?? 0);
        s.packetsLost += Math.max(0, Number(r.packetsLost ?? 0));
        if (consumer.kind === 'video') {
          s.videoBytes += Number(r.bytesReceived ?? 0);
          s.frameWidth = Number(r.frameWidth ?? 0);
          s.frameHeight = Number(r.frameHeight ?? 0);
          s.fps = Number(r.framesPerSecond ?? 0);
          s.jitterMs = Math.round(Number(r.jitter ?? 0) * 1000);
        } else s.audioBytes += Number(r.bytesReceived ?? 0);
      });
      if (consumer.kind === 'video') s.layer = this.layers.get(consumer.id) ?? null;
    }
    return { rttMs, peers };
  }

  /** Per-broadcaster receive stats (used by the e2e tests and the debug overlay). */
  async stats(): Promise<Record<string, { framesDecoded: number; audioPackets: number; audioSamples: number; frameWidth: number }>> {
    const out: Record<string, { framesDecoded: number; audioPackets: number; audioSamples: number; frameWidth: number }> = {};
    for (const { consumer, peerId } of this.consumers.values()) {
      const s = (out[peerId] ??= { framesDecoded: 0, audioPackets: 0, audioSamples: 0, frameWidth: 0 });
      const report = await consumer.getStats();
      report.forEach((r: Record<string, unknown>) => {
        if (r.type !== 'inbound-rtp') return;
        if (consumer.kind === 'video') {
          s.framesDecoded += Number(r.framesDecoded ?? 0);
          s.frameWidth = Math.max(s.frameWidth, Number(r.frameWidth ?? 0));
        } else {
          s.audioPackets += Number(r.packetsReceived ?? 0);
          // Samples the decoder produced: audio that was decoded, not only received.
          s.audioSamples += Number(r.totalSamplesReceived ?? 0);
        }
      });
    }
    return out;
  }
}
