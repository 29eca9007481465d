import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { AdminClient, BotSink, NativeSink, compareViewers, expectedStreams, type CreatedProbe, type IngestReply, type ProbeStatsReply } from '../../loadtest/media/bots.js';
import { windowStats } from '../../loadtest/media/rtpStats.js';
import { startRtpMux } from '../../loadtest/media/rtpMux.js';
import { joinSignalingViewer, type SignalingViewer } from '../../loadtest/media/signalingViewer.js';
import { startVp8Source, type RtpSource } from '../helpers/ffmpeg.js';
import { waitFor } from '../helpers/rtp.js';
import { expectAdminRoutesDocumented } from '../helpers/openApi.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

const ADMIN = 'probe-admin-token-0123456789';

describe('admin media tools: RTP ingest and probe consumers', () => {
  let node: Fourcast;
  let admin: AdminClient;
  const raw = (method: string, path: string, body?: unknown, token: string | null = ADMIN) =>
    fetch(new URL(path, node.urls.http), {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const video = (name: string, ssrc = 1000 + name.length) => ({ kind: 'video' as const, name, payloadType: 101, ssrc, codec: 'VP8' as const });

  beforeAll(async () => {
    // Two workers and two viewers per router: 'spread' probes must go through a fan-out router.
    node = await startTestNode({ ADMIN_TOKEN: ADMIN, MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '2' });
    admin = new AdminClient(node.urls.http, ADMIN);
  });
  afterAll(async () => node?.close());

  it('needs the admin bearer token on every route, before reading anything', async () => {
    const room = 'auth-room';
    const routes: [string, string, unknown?][] = [
      ['POST', `/admin/rooms/${room}/ingest`, video('x')],
      ['DELETE', `/admin/rooms/${room}/ingest/abc`],
      ['POST', `/admin/rooms/${room}/probes`, { ip: '127.0.0.1', ports: [9] }],
      ['GET', `/admin/rooms/${room}/probes/stats`],
      ['DELETE', `/admin/rooms/${room}/probes`],
    ];
    for (const [m, p, body] of routes) {
      for (const token of [null, 'wrong-token-wrong-token']) {
        const res = await raw(m, p, body, token);
        expect(res.status, `${m} ${p}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(await res.json()).toMatchObject({ error: 'unauthorized' });
      }
    }
    // Nothing was created by the refused ingest.
    expect(node.rooms.get(room)).toBeUndefined();
  });

  it('validates bodies and refuses public probe targets', async () => {
    expect((await raw('POST', '/admin/rooms/v/ingest', { ...video('x'), codec: 'opus' })).status).toBe(400);
    expect((await raw('POST', '/admin/rooms/v/ingest', { ...video('x'), ssrc: 0 })).status).toBe(400);
    expect((await raw('POST', '/admin/rooms/v/probes', { ip: '127.0.0.1', ports: [] })).status).toBe(400);
    expect((await raw('POST', '/admin/rooms/v/probes', { ip: '127.0.0.1', ports: Array(2001).fill(9) })).status).toBe(400);
    expect((await raw('POST', '/admin/rooms/no-such-room/probes', { ip: '127.0.0.1', ports: [9] })).status).toBe(404);
    const ingest = await admin.startIngest('v', video('validator'));
    const pub = await raw('POST', '/admin/rooms/v/probes', { ip: '8.8.8.8', ports: [9] });
    expect(pub.status).toBe(403);
    expect(await pub.json()).toMatchObject({ error: 'forbidden' });
    await admin.stopIngest('v', ingest.producerId);
    expect((await raw('DELETE', `/admin/rooms/v/ingest/${ingest.producerId}`)).status).toBe(404);
  });

  it('puts an ingest on stage like a broadcaster: viewers hear of it, a fifth publisher is refused', async () => {
    const room = 'stage-room';
    const viewer = await TestClient.connect(`${node.urls.ws}?room=${room}`);
    try {
      await viewer.request('join', { name: 'Vic' });
      const first = await admin.startIngest(room, video('cam-1', 111));
      expect(first).toMatchObject({ ip: '127.0.0.1', rtpPort: expect.any(Number), rtcpPort: expect.any(Number) });
      expect(first.rtcpPort).not.toBe(first.rtpPort);
      await viewer.waitFor('publisherJoined', (d) => d.peerId === first.peerId);
      await viewer.waitFor('newProducer', (d) => d.producerId === first.producerId && d.kind === 'video' && d.source === 'camera');

      // The same name adds a microphone to the same publisher: still one slot.
      const mic = await admin.startIngest(room, { kind: 'audio', name: 'cam-1', payloadType: 100, ssrc: 112, codec: 'opus' });
      expect(mic.peerId).toBe(first.peerId);
      const dup = await raw('POST', `/admin/rooms/${room}/ingest`, video('cam-1', 113));
      expect(dup.status).toBe(409);

      const others: IngestReply[] = [];
      for (const n of ['cam-2', 'cam-3', 'cam-4']) others.push(await admin.startIngest(room, video(n)));
      const fifth = await raw('POST', `/admin/rooms/${room}/ingest`, video('cam-5'));
      expect(fifth.status).toBe(409);
      expect(await fifth.json()).toMatchObject({ error: 'stage-full' });
      expect(node.rooms.get(room)!.describe({ participants: false }).publishers).toHaveLength(4);

      // Deleting an ingest gives its slot back (cam-2 had only one producer).
      await admin.stopIngest(room, others[0]!.producerId);
      await viewer.waitFor('producerClosed', (d) => d.producerId === others[0]!.producerId);
      await viewer.waitFor('publisherLeft', (d) => d.peerId === others[0]!.peerId);
      const now = await admin.startIngest(room, video('cam-5'));
      // A browser publisher meets the same full stage.
      const pubToken = await node.tokens.mint({ role: 'publisher', room, name: 'Browser', ttlSeconds: 600 });
      const browser = await TestClient.connect(`${node.urls.ws}?token=${pubToken}`);
      await browser.request('join', {});
      const t = await browser.request('createTransport', { direction: 'send' });
      const refused = await browser
        .request('produce', {
          transportId: t.transportId,
          kind: 'video',
          source: 'camera',
          rtpParameters: { mid: '0', codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }], encodings: [{ ssrc: 5 }] },
        })
        .then(
          () => 'ok',
          (e: { code?: string }) => e.code,
        );
      expect(refused).toBe('stage-full');
      browser.close();

      // Closing the room's ingests empties the stage.
      for (const id of [first.producerId, mic.producerId, others[1]!.producerId, others[2]!.producerId, now.producerId]) await admin.stopIngest(room, id);
      await waitFor(() => node.rooms.get(room)!.describe({ participants: false }).publishers.length === 0, 5000, 'empty stage');
    } finally {
      viewer.close();
    }
  });

  describe('with a live VP8 source', () => {
    const room = 'probe-room';
    let source: RtpSource | undefined;
    let sink: BotSink;
    let plain: CreatedProbe[];
    let srtp: CreatedProbe[];
    /** The C engine of the bots: one plain and one SRTP probe. */
    let native: NativeSink;
    let nativeProbes: CreatedProbe[];
    let webrtc: SignalingViewer | undefined;

    beforeAll(async () => {
      const ingest = await admin.startIngest(room, { kind: 'video', name: 'ffmpeg', payloadType: 101, ssrc: 22222222, codec: 'VP8' });
      source = startVp8Source({ rtpPort: ingest.rtpPort, rtcpPort: ingest.rtcpPort, ssrc: 22222222, payloadType: 101, kbps: 300 });
      sink = await BotSink.open(8);
      plain = await admin.createProbes(room, { ip: '127.0.0.1', ports: sink.ports.slice(0, 4), srtp: false, placement: 'spread' });
      srtp = await admin.createProbes(room, { ip: '127.0.0.1', ports: sink.ports.slice(4), srtp: true, placement: 'origin' });
      sink.expect(expectedStreams([...plain, ...srtp]));
      native = await NativeSink.open(2);
      nativeProbes = [
        ...(await admin.createProbes(room, { ip: '127.0.0.1', ports: [native.ports[0]!], srtp: false, placement: 'origin' })),
        ...(await admin.createProbes(room, { ip: '127.0.0.1', ports: [native.ports[1]!], srtp: true, placement: 'origin' })),
      ];
      await native.expect(expectedStreams(nativeProbes));
    });
    afterAll(async () => {
      await webrtc?.close();
      await source?.stop();
      sink?.close();
      native?.close();
    });

    it('places probes like viewers (spread over fan-out routers) or on the origin', async () => {
      expect(plain).toHaveLength(4);
      for (const p of [...plain, ...srtp]) {
        expect(p.consumers).toHaveLength(1);
        expect(p.consumers[0]).toMatchObject({ kind: 'video', clockRate: 90000 });
      }
      const origin = await node.rooms.get(room)!.media.origin();
      expect(new Set(srtp.map((p) => p.worker))).toEqual(new Set([origin.workerIndex]));
      // Two per router: the four spread probes use both workers.
      expect(new Set(plain.map((p) => p.worker)).size).toBe(2);
      const routers = node.rooms.get(room)!.media.all();
      expect(routers.reduce((a, r) => a + r.viewers, 0)).toBe(10);
    });

    it('a genuine WebRTC viewer (werift, through signaling) and the bots tell the same story, at the source’s packet rate', async () => {
      await waitFor(() => sink.snapshot().every((s) => s.received > 10), 15_000, 'every probe receiving');
      webrtc = await joinSignalingViewer({ wsUrl: node.urls.ws, room, name: 'werift' });
      await waitFor(() => webrtc!.snapshot().every((s) => s.received > 10), 15_000, 'werift receiving');
      // The source's rate, measured in the same window: what the ingest producer received.
      const sourcePackets = async () => (await admin.probeStats(room, false, 1)).producers.find((p) => p.kind === 'video')!.packetCount;
      const p0 = await sourcePackets();
      const b0 = sink.snapshot();
      const w0 = webrtc.snapshot();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 4000));
      const b1 = sink.snapshot();
      const w1 = webrtc.snapshot();
      const secs = (performance.now() - t0) / 1000;
      const p1 = await sourcePackets();
      const sourcePps = (p1 - p0) / secs;
      const bots = windowStats(b0, b1, secs);
      const genuine = windowStats(w0, w1, secs);
      const agreement = compareViewers(bots, genuine, 0.15);
      const detail = JSON.stringify({ sourcePps, agreement, bots, genuine });
      const jitterMax = Math.max(...[...b1, ...w1].map((s) => s.jitterMs));
      console.log(`probe window ${secs.toFixed(2)} s: source ${sourcePps.toFixed(1)} pkt/s; per stream: bots ${bots.perStreamPps.min.toFixed(1)}-${bots.perStreamPps.max.toFixed(1)}, werift ${genuine.perStreamPps.mean.toFixed(1)} pkt/s; jitter max ${jitterMax.toFixed(2)} ms`);
      expect(bots.silent).toBe(0);
      expect(bots.streams).toBe(8);
      // Enough packets in the window for a 15 % comparison to mean something (ffmpeg sends 15 frames/s, one or more packets each).
      expect(p1 - p0, detail).toBeGreaterThanOrEqual(40);
      // Every consumer forwards every packet of the single-layer source: each stream runs at the source's rate
      // (the source is read over HTTP just outside the sink's window, hence the tolerance).
      for (const w of [bots, genuine]) {
        expect(w.perStreamPps.min, detail).toBeGreaterThanOrEqual(sourcePps * 0.85);
        expect(w.perStreamPps.max, detail).toBeLessThanOrEqual(sourcePps * 1.15);
      }
      expect(agreement, detail).toMatchObject({ agree: true });
      // Loopback loses nothing: what the producer got, every probe got (the next test checks against packetCount).
      expect(bots.lost, detail).toBe(0);
      expect(genuine.lost, detail).toBe(0);
      // RFC 3550 jitter in ms, per stream: computed (positive: arrival times never line up exactly with
      // RTP timestamps), finite, and below a frame interval at 15 fps on loopback.
      for (const s of [...b1, ...w1]) {
        expect(Number.isFinite(s.jitterMs), `${s.key} ${detail}`).toBe(true);
        expect(s.jitterMs, `${s.key} ${detail}`).toBeGreaterThan(0);
        expect(s.jitterMs, `${s.key} ${detail}`).toBeLessThan(1000 / 15);
      }
    });

    it('bot counts (Node and native engines) equal the consumers’ packetCount once the source stopped (plain and SRTP)', async () => {
      await source!.stop();
      source = undefined;
      // Drained: nothing new arrives for a while.
      let last = -1;
      await waitFor(
        () => {
          const total = sink.snapshot().reduce((a, s) => a + s.received, 0);
          const still = total === last;
          last = total;
          return still;
        },
        5000,
        'packets drained',
      );
      await new Promise((r) => setTimeout(r, 300));
      const stats = await admin.probeStats(room, true);
      const bySsrc = new Map([...sink.snapshot(), ...(await native.snapshot())].map((s) => [`${s.port}:${s.ssrc}`, s]));
      const mine = new Set([...plain, ...srtp, ...nativeProbes].map((p) => p.probeId));
      const probes = (stats.probes ?? []).filter((p: NonNullable<ProbeStatsReply['probes']>[number]) => mine.has(p.probeId));
      expect(probes).toHaveLength(10);
      for (const p of probes) {
        for (const c of p.consumers) {
          const seen = bySsrc.get(`${p.port}:${c.ssrc}`)!;
          expect(c.packetCount).toBeGreaterThan(30);
          expect(seen.received, `probe ${p.probeId} ssrc ${c.ssrc}`).toBe(c.packetCount);
          expect(seen.lost).toBe(0);
        }
      }
      expect(sink.counters.unknown).toBe(0);
      expect(await native.counters()).toMatchObject({ unknown: 0, malformed: 0 });
      expect(stats.producers[0]).toMatchObject({ kind: 'video', packetsLost: 0 });
      expect(stats.totals.consumers).toBe(10);
      // ?sample reads a few consumers per (worker, producer) and extrapolates.
      const full = await admin.probeStats(room, false);
      expect(full.totals).toMatchObject({ consumers: 10, sampled: 10, packetCount: stats.totals.packetCount });
      const sampled = await admin.probeStats(room, false, 1);
      expect(sampled.probes).toBeUndefined();
      expect(sampled.totals.sampled).toBe(sampled.totals.byWorker.length);
      expect(Math.abs(sampled.totals.packetCount - full.totals.packetCount) / full.totals.packetCount).toBeLessThan(0.1);
    });

    it('closing the probes gives their router slots back', async () => {
      const before = node.rooms.get(room)!.media.all().reduce((a, r) => a + r.viewers, 0);
      expect((await admin.deleteProbes(room)).closed).toBe(10);
      const after = node.rooms.get(room)!.media.all().reduce((a, r) => a + r.viewers, 0);
      expect(before - after).toBe(10);
      expect((await admin.probeStats(room)).totals.probes).toBe(0);
    });
  });

  it('a simulcast ingest: one producer with a layer per SSRC; a viewer asking for the middle layer gets it', async () => {
    const room = 'simulcast-room';
    expect((await raw('POST', `/admin/rooms/${room}/ingest`, { ...video('sc'), simulcastSsrcs: [1000 + 2] })).status).toBe(400); // same SSRC twice ('sc'.length)
    expect((await raw('POST', `/admin/rooms/${room}/ingest`, { kind: 'audio', name: 'sc', payloadType: 100, ssrc: 5, simulcastSsrcs: [6], codec: 'opus' })).status).toBe(400);
    const ssrcs = [3001, 3002, 3003];
    const ingest = await admin.startIngest(room, { ...video('sc', ssrcs[0]), simulcastSsrcs: ssrcs.slice(1) });
    // Three ffmpeg senders, joined into one source address for the comedia ingest.
    const mux = await startRtpMux(3, [{ ip: ingest.ip, port: ingest.rtpPort }]);
    const sources = ssrcs.map((ssrc, i) => startVp8Source({ rtpPort: mux.ports[i]!, rtcpPort: mux.discardPort, ssrc, kbps: 100 * 2 ** i }));
    const viewer = await TestClient.connect(`${node.urls.ws}?room=${room}`);
    try {
      const joined = await viewer.request('join', {});
      await viewer.request('createTransport', { direction: 'recv' });
      await viewer.request('setRtpCapabilities', { rtpCapabilities: joined.routerRtpCapabilities as never });
      const producer = node.rooms.get(room)!.stage.peers.flatMap((p) => [...p.producers.values()].map((x) => x.producer)).find((p) => p.id === ingest.producerId)!;
      expect(producer.type).toBe('simulcast');
      expect(producer.rtpParameters.encodings!.map((e) => e.ssrc)).toEqual(ssrcs);
      // Every layer arrives on the one producer.
      await waitFor(async () => ((await producer.getStats()) as { ssrc: number; packetCount: number }[]).filter((st) => ssrcs.includes(st.ssrc) && st.packetCount > 0).length === 3, 15_000, 'packets on all three layers');
      const { consumerId } = await viewer.request('consume', { producerId: ingest.producerId });
      expect(await viewer.request('setPreferredLayers', { consumerId, spatialLayer: 1 })).toEqual({});
      const consumer = [...node.rooms.get(room)!.peers.values()].flatMap((p) => [...p.media.consumers.values()]).find((c) => c.id === consumerId)!;
      expect(consumer.type).toBe('simulcast');
      expect(consumer.preferredLayers?.spatialLayer).toBe(1);
    } finally {
      viewer.close();
      for (const src of sources) await src.stop();
      mux.close();
      await admin.stopIngest(room, ingest.producerId).catch(() => undefined);
    }
  }, 30_000);

  it('documents the routes in a valid OpenAPI 3.0 document', async () => {
    await expectAdminRoutesDocumented(node.urls.http, [
      ['/admin/rooms/{room}/ingest', 'post'],
      ['/admin/rooms/{room}/ingest/{producerId}', 'delete'],
      ['/admin/rooms/{room}/probes', 'post'],
      ['/admin/rooms/{room}/probes', 'delete'],
      ['/admin/rooms/{room}/probes/stats', 'get'],
    ]);
  });
});
