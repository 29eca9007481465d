import { MEDIA_REQUEST_TIMEOUT_MS, withTimeout } from '../media/timeout.js';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import type { RoomRouter } from '../media/roomMedia.js';
import { ProtocolError, displayName, type MediaSource } from '../protocol/messages.js';
import type { Peer, PeerLink } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import type { RoomManager } from '../rooms/roomManager.js';

/**
 * Operator media tools for load tests and diagnostics (admin routes in
 * http/admin/mediaTools.ts):
 *
 * - **RTP ingest**: a comedia PlainTransport on the room's origin router fed by
 *   a plain RTP sender (ffmpeg). Its producer takes a stage slot exactly like a
 *   browser broadcaster (four-slot rule, `publisherJoined`/`newProducer`): the
 *   ingest is a server-side peer of the room, with no connection.
 * - **Probe consumers**: one PlainTransport per probe, placed like a viewer
 *   (fan-out routers, `placement: 'spread'`) or on the origin, sending RTP (or
 *   SRTP) of every producer of the room to an address the operator gives. A
 *   load bot only has to count packets on a UDP socket: SRTP leaves the RTP
 *   header (SSRC, sequence number, timestamp) in the clear.
 */

export type IngestCodec = 'VP8' | 'H264' | 'opus';

export interface IngestSpec {
  kind: ms.MediaKind;
  /** Display name of the ingest publisher; ingests with the same name share one stage slot (camera + mic). */
  name: string;
  payloadType: number;
  /** SSRC of the stream (of a simulcast ingest: its lowest layer). */
  ssrc: number;
  /** A simulcast video ingest: the SSRCs of its higher layers, in order (each the next spatial layer). */
  simulcastSsrcs?: number[];
  codec: IngestCodec;
}

export interface IngestInfo {
  producerId: string;
  peerId: string;
  /** Where the sender sends RTP (and RTCP, `rtcpMux` is off: ffmpeg sends RTCP to its own port). */
  ip: string;
  rtpPort: number;
  rtcpPort: number;
}

export type ProbePlacement = 'spread' | 'origin';

export interface ProbeSpec {
  /** Where probes send; loopback or a private address. */
  ip: string;
  /** One per probe (a port may repeat: the receiver tells streams apart by SSRC). */
  ports: number[];
  srtp: boolean;
  placement: ProbePlacement;
}

export interface ProbeConsumerInfo {
  consumerId: string;
  producerId: string;
  kind: ms.MediaKind;
  ssrc: number;
  payloadType: number;
  clockRate: number;
}

export interface ProbeInfo {
  probeId: string;
  port: number;
  /** Index of the mediasoup worker whose router sends this probe's media. */
  worker: number;
  /** mediasoup's own SRTP parameters (what it encrypts with), when `srtp`. */
  srtpParameters?: ms.SrtpParameters | undefined;
  consumers: ProbeConsumerInfo[];
}

export interface ProbeConsumerStats {
  consumerId: string;
  producerId: string;
  kind: ms.MediaKind;
  ssrc: number;
  packetCount: number;
  byteCount: number;
}

export interface ProbeStatsReport {
  /** Server clock (ms since the epoch) once every stat was in. */
  at: number;
  probes: { probeId: string; port: number; worker: number; consumers: ProbeConsumerStats[] }[] | undefined;
  /** `sampled` consumers were read; with sampling, `packetCount` and `byteCount` are extrapolated to all `consumers`. */
  totals: { probes: number; consumers: number; sampled: number; packetCount: number; byteCount: number; byWorker: { worker: number; consumers: number; packetCount: number }[] };
  /** What the room's producers received (`packetsLost` counts gaps at the origin's socket). */
  producers: { producerId: string; kind: ms.MediaKind; packetCount: number; byteCount: number; packetsLost: number }[];
}

export interface MediaProbesOptions {
  rooms: RoomManager;
  /** IP the PlainTransports bind to (RTC_LISTEN_IP) and the address announced for it. */
  listenIp: string;
  announcedAddress?: string | undefined;
  log: Logger;
  /** Probes one room may hold. Default 10000. */
  maxProbesPerRoom?: number;
}

/** Largest `ports` array one request may carry. */
export const MAX_PROBES_PER_REQUEST = 2000;
const SRTP_SUITE: ms.SrtpCryptoSuite = 'AES_CM_128_HMAC_SHA1_80';
/** Worker requests in flight while probes are built. */
const PARALLEL = 16;

const CODECS: Record<IngestCodec, { kind: ms.MediaKind; mimeType: string; clockRate: number; channels?: number; parameters?: Record<string, unknown> }> = {
  VP8: { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  H264: { kind: 'video', mimeType: 'video/H264', clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } },
  opus: { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
};

const NO_LINK: PeerLink = { send: () => undefined, close: () => undefined };

interface Ingest {
  producer: ms.Producer;
  transport: ms.PlainTransport;
  peer: Peer;
}

interface Probe {
  id: string;
  port: number;
  rr: RoomRouter;
  transport: ms.PlainTransport;
  consumers: ms.Consumer[];
}

/** What the tools hold in one room; dropped when the room closes. */
class RoomTools {
  /** Ingest publishers by display name. */
  readonly ingestPeers = new Map<string, Peer>();
  readonly ingests = new Map<string, Ingest>();
  readonly probes = new Map<string, Probe>();
}

export class MediaProbes {
  private readonly byRoom = new WeakMap<Room, RoomTools>();
  private readonly maxPerRoom: number;

  constructor(private readonly opts: MediaProbesOptions) {
    this.maxPerRoom = opts.maxProbesPerRoom ?? 10_000;
  }

  // ---- ingest ------------------------------------------------------------------

  /** Creates the room if needed, takes a stage slot and returns where to send RTP. */
  async startIngest(roomId: string, spec: IngestSpec): Promise<IngestInfo> {
    const codec = CODECS[spec.codec];
    if (codec.kind !== spec.kind) throw new ProtocolError('bad-request', `codec ${spec.codec} is ${codec.kind}, not ${spec.kind}`);
    const ssrcs = [spec.ssrc, ...(spec.simulcastSsrcs ?? [])];
    if (ssrcs.length > 1 && spec.kind !== 'video') throw new ProtocolError('bad-request', 'simulcastSsrcs: only a video ingest has simulcast layers');
    if (new Set(ssrcs).size !== ssrcs.length) throw new ProtocolError('bad-request', 'simulcastSsrcs: every layer needs its own SSRC, different from ssrc');
    const parsedName = displayName.safeParse(spec.name);
    if (!parsedName.success) throw new ProtocolError('bad-request', parsedName.error.issues[0]?.message ?? 'invalid name');
    const name = parsedName.data;
    const source: MediaSource = spec.kind === 'video' ? 'camera' : 'mic';

    let room = this.opts.rooms.get(roomId);
    let peer = room && !room.closed ? this.tools(room).ingestPeers.get(name) : undefined;
    if (!room || room.closed || !peer || room.peers.get(peer.id) !== peer) {
      const joined = await this.opts.rooms.join({ roomId, role: 'publisher', name, link: NO_LINK, banKeys: [] });
      room = joined.room;
      peer = joined.peer;
      this.tools(room).ingestPeers.set(name, peer);
    }
    const tools = this.tools(room);
    const ingestPeer = peer;
    const joinedRoom = room;
    const leaveIfIdle = () => {
      if (ingestPeer.producers.size > 0 || joinedRoom.peers.get(ingestPeer.id) !== ingestPeer) return;
      if (tools.ingestPeers.get(name) === ingestPeer) tools.ingestPeers.delete(name);
      joinedRoom.leave(ingestPeer);
    };
    for (const p of ingestPeer.producers.values()) {
      if (p.source === source) throw new ProtocolError('invalid-state', `ingest "${name}" already sends ${spec.kind}; delete it first or use another name`);
    }

    let transport: ms.PlainTransport | undefined;
    try {
      const origin = await joinedRoom.media.origin();
      transport = await withTimeout(
        origin.router.createPlainTransport({
          listenInfo: { protocol: 'udp', ip: this.opts.listenIp, announcedAddress: this.opts.announcedAddress },
          // ffmpeg sends RTCP from another port: with rtcpMux, comedia would lock onto it and drop the RTP.
          rtcpMux: false,
          comedia: true,
          appData: { ingest: true, peerId: ingestPeer.id },
        }),
        MEDIA_REQUEST_TIMEOUT_MS,
        'createPlainTransport',
        (t) => t.close(),
      );
      const producer = await joinedRoom.stage.produceOn(ingestPeer, transport, {
        kind: spec.kind,
        source,
        rtpParameters: {
          codecs: [{ mimeType: codec.mimeType, payloadType: spec.payloadType, clockRate: codec.clockRate, channels: codec.channels, parameters: codec.parameters }],
          // One encoding per simulcast layer, lowest first (mediasoup's order of spatial layers).
          encodings: ssrcs.map((ssrc) => ({ ssrc })),
          rtcp: { cname: `ingest-${ingestPeer.id.slice(0, 8)}`, reducedSize: false },
        },
      });
      const t = transport;
      tools.ingests.set(producer.id, { producer, transport: t, peer: ingestPeer });
      // Closing either end closes the other; the last one gone gives the stage slot back.
      producer.observer.once('close', () => t.close());
      t.observer.once('close', () => {
        tools.ingests.delete(producer.id);
        leaveIfIdle();
      });
      this.opts.log.info({ room: joinedRoom.id, peer: ingestPeer.id, producer: producer.id, kind: spec.kind, codec: spec.codec, port: t.tuple.localPort }, 'RTP ingest started');
      return {
        producerId: producer.id,
        peerId: ingestPeer.id,
        ip: t.tuple.localAddress,
        rtpPort: t.tuple.localPort,
        rtcpPort: t.rtcpTuple!.localPort,
      };
    } catch (err) {
      transport?.close();
      leaveIfIdle();
      throw err;
    }
  }

  /** Closes one ingest producer; its publisher leaves the stage when it was its last one. */
  stopIngest(roomId: string, producerId: string): void {
    const room = this.roomOf(roomId);
    const ingest = this.tools(room).ingests.get(producerId);
    if (!ingest) throw new ProtocolError('not-found', `no ingest ${producerId} in room "${roomId}"`);
    // Through the transport: the room sees `transportclose`, tells viewers, and frees the slot with the last producer.
    ingest.transport.close();
  }

  // ---- probes ------------------------------------------------------------------

  /** One PlainTransport per port, consuming every producer of the room (snapshot: later producers are not added). */
  async addProbes(roomId: string, spec: ProbeSpec): Promise<ProbeInfo[]> {
    const room = this.roomOf(roomId);
    if (!isAllowedTarget(spec.ip)) throw new ProtocolError('forbidden', `probes only send to loopback or private addresses, not ${spec.ip}`);
    if (spec.ports.length > MAX_PROBES_PER_REQUEST) throw new ProtocolError('bad-request', `at most ${MAX_PROBES_PER_REQUEST} probes per request`);
    const tools = this.tools(room);
    if (tools.probes.size + spec.ports.length > this.maxPerRoom) {
      throw new ProtocolError('invalid-state', `a room holds at most ${this.maxPerRoom} probes; it has ${tools.probes.size}`);
    }
    const producers = room.stage.peers.flatMap((p) => [...p.producers.values()].map((x) => x.producer)).filter((p) => !p.closed);
    if (producers.length === 0) throw new ProtocolError('invalid-state', `room "${roomId}" has no producers to consume; start an ingest or a broadcaster first`);

    const created: Probe[] = [];
    const out: ProbeInfo[] = new Array(spec.ports.length);
    try {
      await eachLimited(spec.ports, PARALLEL, async (port, i) => {
        const rr = spec.placement === 'origin' ? await room.media.placeOnOrigin() : await room.media.placeViewer();
        let transport: ms.PlainTransport;
        try {
          transport = await rr.router.createPlainTransport({
            listenInfo: { protocol: 'udp', ip: this.opts.listenIp, announcedAddress: this.opts.announcedAddress },
            rtcpMux: true,
            comedia: false,
            enableSrtp: spec.srtp,
            srtpCryptoSuite: SRTP_SUITE,
            appData: { probe: true },
          });
        } catch (err) {
          room.media.release(rr);
          throw err;
        }
        const probe: Probe = { id: randomUUID(), port, rr, transport, consumers: [] };
        created.push(probe);
        tools.probes.set(probe.id, probe);
        transport.observer.once('close', () => {
          if (tools.probes.get(probe.id) === probe) tools.probes.delete(probe.id);
          room.media.release(rr);
        });
        await transport.connect({
          ip: spec.ip,
          port,
          // The key the far end would encrypt with; probes never receive media, so a random one will do.
          ...(spec.srtp ? { srtpParameters: { cryptoSuite: SRTP_SUITE, keyBase64: randomBytes(30).toString('base64') } } : {}),
        });
        const caps = probeCapabilities(rr.router);
        for (const producer of producers) {
          if (producer.closed || !rr.router.canConsume({ producerId: producer.id, rtpCapabilities: caps })) continue;
          probe.consumers.push(await transport.consume({ producerId: producer.id, rtpCapabilities: caps, paused: false, appData: { probe: probe.id } }));
        }
        out[i] = {
          probeId: probe.id,
          port,
          worker: rr.workerIndex,
          srtpParameters: spec.srtp ? transport.srtpParameters : undefined,
          consumers: probe.consumers.map(consumerInfo),
        };
      });
    } catch (err) {
      for (const p of created) p.transport.close();
      throw err;
    }
    this.opts.log.info({ room: room.id, probes: spec.ports.length, srtp: spec.srtp, placement: spec.placement, total: tools.probes.size }, 'probe consumers added');
    return out;
  }

  /**
   * Packet counts of the probe consumers (`outbound-rtp`) and of the room's
   * producers. Every consumer is one request to its worker, and a busy worker
   * answers late, so the snapshot of N consumers is smeared over time. With
   * `sample`, only up to that many consumers per (worker, producer) are read
   * and the totals are extrapolated: consumers of one producer on one router
   * forward the same packets, so the estimate is exact once they all run, and
   * the snapshot is taken at one instant even on a saturated worker.
   */
  async probeStats(roomId: string, opts: { detail?: boolean; sample?: number | undefined } = {}): Promise<ProbeStatsReport> {
    const room = this.roomOf(roomId);
    const probes = [...this.tools(room).probes.values()];
    const groups = new Map<string, { worker: number; members: { probe: Probe; consumer: ms.Consumer }[] }>();
    for (const probe of probes) {
      for (const consumer of probe.consumers) {
        if (consumer.closed) continue;
        const key = `${probe.rr.workerIndex}:${consumer.producerId}`;
        const g = groups.get(key) ?? { worker: probe.rr.workerIndex, members: [] };
        g.members.push({ probe, consumer });
        groups.set(key, g);
      }
    }
    const sample = opts.sample && opts.sample > 0 ? Math.floor(opts.sample) : undefined;
    const read = [...groups.values()].map((g) => {
      const k = sample ? Math.min(sample, g.members.length) : g.members.length;
      // Evenly spread over the group, so early and late consumers are both represented.
      const picked = Array.from({ length: k }, (_, i) => g.members[Math.floor((i * g.members.length) / k)]!);
      return { g, picked };
    });
    const [statsByGroup, producers] = await Promise.all([
      Promise.all(read.map(async ({ g, picked }) => ({ g, stats: await Promise.all(picked.map(async (m) => ({ m, s: await consumerStats(m.consumer) }))) }))),
      Promise.all(
        room.stage.peers.flatMap((peer) => [...peer.producers.values()]).map(async ({ producer }) => {
          const stats = (await producer.getStats().catch(() => [])).filter((s) => s.type === 'inbound-rtp');
          return {
            producerId: producer.id,
            kind: producer.kind,
            packetCount: stats.reduce((a, s) => a + s.packetCount, 0),
            byteCount: stats.reduce((a, s) => a + s.byteCount, 0),
            packetsLost: stats.reduce((a, s) => a + s.packetsLost, 0),
          };
        }),
      ),
    ]);
    const byWorker = new Map<number, { worker: number; consumers: number; packetCount: number }>();
    let consumers = 0;
    let packetCount = 0;
    let byteCount = 0;
    let sampled = 0;
    for (const { g, stats } of statsByGroup) {
      if (stats.length === 0) continue;
      const scale = g.members.length / stats.length;
      const pc = stats.reduce((a, x) => a + x.s.packetCount, 0) * scale;
      const bc = stats.reduce((a, x) => a + x.s.byteCount, 0) * scale;
      const w = byWorker.get(g.worker) ?? { worker: g.worker, consumers: 0, packetCount: 0 };
      byWorker.set(g.worker, w);
      w.consumers += g.members.length;
      w.packetCount += Math.round(pc);
      consumers += g.members.length;
      packetCount += pc;
      byteCount += bc;
      sampled += stats.length;
    }
    let detail: ProbeStatsReport['probes'];
    if (opts.detail ?? true) {
      const seen = new Map(statsByGroup.flatMap(({ stats }) => stats.map((x) => [x.m.consumer.id, x.s] as const)));
      detail = probes.map((p) => ({
        probeId: p.id,
        port: p.port,
        worker: p.rr.workerIndex,
        consumers: p.consumers.flatMap((c) => seen.get(c.id) ?? []),
      }));
    }
    return {
      at: Date.now(),
      probes: detail,
      totals: { probes: probes.length, consumers, sampled, packetCount: Math.round(packetCount), byteCount: Math.round(byteCount), byWorker: [...byWorker.values()].sort((a, b) => a.worker - b.worker) },
      producers,
    };
  }

  /** Closes every probe of the room; returns how many there were. */
  closeProbes(roomId: string): number {
    const room = this.roomOf(roomId);
    const probes = [...this.tools(room).probes.values()];
    for (const p of probes) p.transport.close();
    if (probes.length) this.opts.log.info({ room: room.id, probes: probes.length }, 'probe consumers closed');
    return probes.length;
  }

  private roomOf(id: string): Room {
    const room = this.opts.rooms.get(id);
    if (!room || room.closed) throw new ProtocolError('not-found', `no room "${id}" on this node`);
    return room;
  }

  private tools(room: Room): RoomTools {
    let t = this.byRoom.get(room);
    if (!t) {
      t = new RoomTools();
      this.byRoom.set(room, t);
    }
    return t;
  }
}

/** The router's codecs with only NACK/PLI/FIR feedback and no congestion-control extensions: a plain receiver that never reports. */
function probeCapabilities(router: ms.Router): ms.RtpCapabilities {
  const caps = router.rtpCapabilities;
  return {
    codecs: (caps.codecs ?? []).map((c) => ({ ...c, rtcpFeedback: (c.rtcpFeedback ?? []).filter((f) => f.type === 'nack' || f.type === 'ccm') })),
    headerExtensions: (caps.headerExtensions ?? []).filter((h) => !/transport-wide-cc|abs-send-time/.test(h.uri)),
  };
}

function consumerInfo(c: ms.Consumer): ProbeConsumerInfo {
  const codec = c.rtpParameters.codecs[0]!;
  return { consumerId: c.id, producerId: c.producerId, kind: c.kind, ssrc: c.rtpParameters.encodings?.[0]?.ssrc ?? 0, payloadType: codec.payloadType, clockRate: codec.clockRate };
}

async function consumerStats(c: ms.Consumer): Promise<ProbeConsumerStats> {
  const stats = await c.getStats().catch(() => []);
  const out = stats.find((s) => s.type === 'outbound-rtp');
  return {
    consumerId: c.id,
    producerId: c.producerId,
    kind: c.kind,
    ssrc: c.rtpParameters.encodings?.[0]?.ssrc ?? 0,
    packetCount: out?.packetCount ?? 0,
    byteCount: out?.byteCount ?? 0,
  };
}

/** Loopback (127/8, ::1) and private ranges (10/8, 172.16/12, 192.168/16, fc00::/7): probe traffic never leaves the operator's network. */
export function isAllowedTarget(ip: string): boolean {
  const v = net.isIP(ip);
  if (v === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (v === 6) {
    const lower = ip.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return isAllowedTarget(mapped[1]!);
    return lower === '::1' || /^f[cd][0-9a-f]{0,2}:/.test(lower);
  }
  return false;
}

/** Runs `fn` over `items`, at most `limit` at a time; the first failure wins (the others still settle). */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure;
}
