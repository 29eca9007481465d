import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { mediaCodecs } from '../../src/media/codecs.js';
import type { WorkerPool } from '../../src/media/workerPool.js';
import { startVp8Source, type RtpSource } from '../helpers/ffmpeg.js';
import { createTestPool } from '../helpers/pool.js';
import { waitFor } from '../helpers/rtp.js';
import { connectWeriftViewer, plainCapabilities, type WeriftViewer } from '../helpers/weriftViewer.js';

// The worker is built against Debian's OpenSSL (kernel-TLS capable). Without the
// DTLS BIO fix in scripts/mediasoup-worker/build.sh it crashes on the first
// handshake, which is exactly what this test would catch.
describe('WebRtcTransport with a real WebRTC peer (werift)', () => {
  let pool: WorkerPool;
  let source: RtpSource | undefined;
  let viewer: WeriftViewer | undefined;

  beforeAll(async () => {
    pool = await createTestPool(1);
  });
  afterAll(async () => {
    await viewer?.close();
    await source?.stop();
    pool?.close();
  });

  it('completes ICE + DTLS through the WebRtcServer and delivers SRTP media', async () => {
    const mw = pool.workers[0]!;
    const router = await mw.worker.createRouter({ mediaCodecs });
    const ingest = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: true });
    source = startVp8Source({ rtpPort: ingest.tuple.localPort, rtcpPort: ingest.rtcpTuple!.localPort });
    const producer = await ingest.produce({
      kind: 'video',
      rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: source.payloadType, clockRate: 90000 }], encodings: [{ ssrc: source.ssrc }] },
    });

    const transport = await router.createWebRtcTransport({ webRtcServer: mw.webRtcServer, enableUdp: true, enableTcp: false });
    expect(transport.iceCandidates.some((c) => c.address === '127.0.0.1' && c.port === mw.port)).toBe(true);
    const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: plainCapabilities(router, 'video/VP8') });

    const dtlsStates: string[] = [];
    transport.on('dtlsstatechange', (s) => dtlsStates.push(s));
    viewer = await connectWeriftViewer(transport, consumer);

    await waitFor(() => transport.dtlsState === 'connected', 15_000, 'DTLS connected');
    await waitFor(() => viewer!.packets() >= 50, 20_000, '50 SRTP packets decrypted by werift');

    expect(transport.iceState === 'connected' || transport.iceState === 'completed').toBe(true);
    expect(dtlsStates).toContain('connected');
    expect(dtlsStates).not.toContain('failed');
    const stats = (await consumer.getStats()) as ms.ConsumerStat[];
    expect(stats.find((s) => s.type === 'outbound-rtp')!.packetCount).toBeGreaterThanOrEqual(50);
    // The worker survived the handshake (the KTLS bug kills it right here).
    expect(mw.closed).toBe(false);
    router.close();
  });
});
