import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { mediaCodecs } from '../../src/media/codecs.js';
import type { WorkerPool } from '../../src/media/workerPool.js';
import { startVp8Source, type RtpSource } from '../helpers/ffmpeg.js';
import { createTestPool } from '../helpers/pool.js';
import { createRtpSink, waitFor } from '../helpers/rtp.js';

describe('WorkerPool with the built mediasoup worker', () => {
  let pool: WorkerPool;
  let source: RtpSource | undefined;

  beforeAll(async () => {
    pool = await createTestPool(2);
  });
  afterAll(async () => {
    await source?.stop();
    pool?.close();
  });

  it('starts one worker per slot, each with a WebRtcServer on base + index', () => {
    expect(pool.workers).toHaveLength(2);
    const [a, b] = pool.workers;
    expect(b!.port).toBe(a!.port + 1);
    expect(a!.pid).not.toBe(b!.pid);
  });

  it('forwards real RTP from ffmpeg through a producer to a consumer', async () => {
    const worker = pool.leastLoaded()!;
    const router = await worker.worker.createRouter({ mediaCodecs });

    // Ingest: comedia PlainTransport; rtcpMux off so mediasoup does not latch onto ffmpeg's RTCP port.
    const ingest = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: true });
    source = startVp8Source({ rtpPort: ingest.tuple.localPort, rtcpPort: ingest.rtcpTuple!.localPort });
    const producer = await ingest.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: source.payloadType, clockRate: 90000 }],
        encodings: [{ ssrc: source.ssrc }],
      },
    });

    // Egress: a PlainTransport pointed at a UDP socket of ours.
    const sink = await createRtpSink();
    const egress = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    await egress.connect({ ip: '127.0.0.1', port: sink.port });
    const consumer = await egress.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    expect(worker.consumers).toBe(1);

    // Count the consumer's own SSRC: mediasoup also sends bandwidth probation packets (SSRC 1234).
    const ssrc = consumer.rtpParameters.encodings![0]!.ssrc!;
    await waitFor(() => (sink.rtp.get(ssrc) ?? 0) >= 60, 20_000, '60 forwarded RTP packets');
    await source.stop();
    await new Promise((r) => setTimeout(r, 300)); // let in-flight packets land

    const stats = (await consumer.getStats()) as ms.ConsumerStat[];
    const outbound = stats.find((s) => s.type === 'outbound-rtp')!;
    const received = sink.rtp.get(ssrc) ?? 0;
    // Every packet the consumer says it sent arrived at our socket (loopback drops nothing at this rate).
    expect(received).toBe(outbound.packetCount);
    expect(received).toBeGreaterThanOrEqual(60);
    const inbound = ((await producer.getStats()) as ms.ProducerStat[])[0]!;
    expect(inbound.packetCount).toBeGreaterThanOrEqual(received);

    consumer.close();
    expect(worker.consumers).toBe(0);
    sink.close();
    router.close();
  });
});
