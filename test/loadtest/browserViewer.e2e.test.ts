import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import type { Fourcast } from '../../src/server.js';
import { AdminClient } from '../../loadtest/media/bots.js';
import { joinBrowserViewer, type BrowserViewer } from '../../loadtest/media/browserViewer.js';
import { chromiumRtpCapabilities } from '../../loadtest/media/chromiumCaps.js';
import { WebrtcSink } from '../../loadtest/media/webrtcSink.js';
import { startVp8Source, type RtpSource } from '../helpers/ffmpeg.js';
import { poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

const ADMIN = 'browser-viewer-admin-token-0123456789';
const ROOM = 'browser-shaped';
// initialAvailableOutgoingBitrate of every WebRtcTransport (src/media/peerMedia.ts).
const INITIAL_BITRATE = 1_000_000;

// The bench's browser-shaped viewers are checked like a product: Chromium's own RTP
// capabilities, Fourcast's real signaling, and a separate WebRTC stack (pion) that completes
// ICE and DTLS with the node, decrypts SRTP with the suite Chromium gets, sends congestion
// control feedback, and counts every packet of every track it was given.
describe('browser-shaped viewers (Chromium capabilities, pion receivers)', () => {
  let node: Fourcast;
  let sink: WebrtcSink;
  let source: RtpSource | undefined;
  const viewers: BrowserViewer[] = [];

  beforeAll(async () => {
    node = await startTestNode({ ADMIN_TOKEN: ADMIN });
    sink = WebrtcSink.start();
  });
  afterAll(async () => {
    for (const v of viewers) await v.close().catch(() => undefined);
    await sink?.stop();
    await source?.stop();
    await node?.close();
  });

  it('take Chromium’s capabilities, connect over DTLS-SRTP (AES-GCM) with transport-cc, and receive every packet', async () => {
    const { rtpCapabilities, chromium } = await chromiumRtpCapabilities(node.urls.http, ROOM);
    expect(chromium).toMatch(/\d+\./);
    // What makes a consumer browser-shaped: Chromium's feedback and header extensions.
    const vp8 = rtpCapabilities.codecs!.find((c) => c.mimeType === 'video/VP8')!;
    expect(vp8.rtcpFeedback!.map((f) => `${f.type} ${f.parameter ?? ''}`.trim())).toEqual(expect.arrayContaining(['nack', 'nack pli', 'transport-cc']));
    expect(rtpCapabilities.headerExtensions!.map((h) => h.uri)).toContain('http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01');

    const admin = new AdminClient(node.urls.http, ADMIN);
    const ingest = await admin.startIngest(ROOM, { kind: 'video', name: 'Camera', payloadType: 101, ssrc: 0x1357, codec: 'VP8' });
    source = startVp8Source({ rtpPort: ingest.rtpPort, rtcpPort: ingest.rtcpPort, ssrc: 0x1357, payloadType: 101 });
    for (let i = 0; i < 3; i++) viewers.push(await joinBrowserViewer(sink, { wsUrl: node.urls.ws, room: ROOM, rtpCapabilities, id: `v${i}` }));

    await poll(() => sink.stats(), (s) => s.connected === 3, 15_000, 'three receivers connected');
    const first = await poll(() => sink.stats(), (s) => s.streams.length === 3 && s.streams.every((x) => x.packets > 30), 15_000, 'video at every receiver');
    // The server's side of those transports: DTLS done, consumers sending with transport-cc.
    const peers = [...node.rooms.get(ROOM)!.peers.values()].filter((p) => p.role === 'viewer');
    expect(peers).toHaveLength(3);
    // Congestion control runs on receiver feedback, as with a browser: mediasoup's transport-cc
    // estimate leaves the value it started from only when transport-wide feedback arrives.
    // Read from the transport's stats, not from 'bwe' trace events: those fire only when the
    // estimate is recomputed, and one that settled before tracing was enabled (a loaded
    // machine is slow to get here) never fires again.
    const transport = [...peers[0]!.media.transports.values()][0]!.transport;
    const bwe = await poll(
      async () => (await transport.getStats())[0]!,
      (s) => s.availableOutgoingBitrate !== undefined && s.availableOutgoingBitrate !== INITIAL_BITRATE,
      20_000,
      `a bandwidth estimate that moved from ${INITIAL_BITRATE} on transport-cc feedback`,
    );
    expect(bwe.availableOutgoingBitrate).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3000));
    const later = await sink.stats();
    // mediasoup's bandwidth probes arrive on the probator stream the offer declares (as
    // mediasoup-client does), so the feedback covers them; they are not a media stream.
    expect(later.probation, 'probation packets on the probator SSRC').toBeGreaterThan(0);
    for (const s of later.streams) {
      const before = first.streams.find((x) => x.id === s.id && x.ssrc === s.ssrc)!;
      expect(s.packets, `${s.id} keeps receiving`).toBeGreaterThan(before.packets + 20);
      expect(s.lost, `${s.id} lost nothing`).toBe(0);
      expect(s.kind).toBe('video');
      expect(viewers.find((v) => v.id === s.id)!.consumers.map((c) => c.ssrc)).toContain(s.ssrc);
    }
    // Every consumer sent what each receiver counted (mediasoup's own counter, give or take the last packets in flight).
    for (const v of viewers) {
      const consumer = [...node.rooms.get(ROOM)!.peers.values()].flatMap((p) => [...p.media.consumers.values()]).find((c) => c.id === v.consumers[0]!.consumerId) as ms.Consumer | undefined;
      expect(consumer, 'the consumer exists on the server').toBeDefined();
      const sent = (await consumer!.getStats()).find((x) => x.type === 'outbound-rtp')!.packetCount;
      const got = (await sink.stats()).streams.find((x) => x.id === v.id)!.packets;
      expect(got).toBeGreaterThan(sent * 0.9);
    }
  }, 120_000);
});
