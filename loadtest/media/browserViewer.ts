import type { types as ms } from 'mediasoup';
import type { ConsumerInfo, RequestData, TransportInfo } from '../../src/protocol/messages.js';
import { answerDtls, recvOffer } from './recvSdp.js';
import { Signaling } from './signalingViewer.js';
import type { WebrtcSink } from './webrtcSink.js';

/**
 * A viewer shaped like a browser: it joins through Fourcast's real signaling (join →
 * setRtpCapabilities with a browser's capabilities → createTransport → consume every track on
 * stage → connectTransport → resumeConsumer) and receives in a WebrtcSink peer connection
 * (ICE, DTLS-SRTP, NACK/RTX, TWCC and receiver reports, as Chromium sends them).
 */
export interface BrowserViewer {
  id: string;
  consumers: { consumerId: string; kind: 'audio' | 'video'; ssrc: number }[];
  close(): Promise<void>;
}

export interface BrowserViewerOptions {
  wsUrl: string;
  room: string;
  /** The receiver's RTP capabilities (as mediasoup-client's Device has them in Chromium). */
  rtpCapabilities: ms.RtpCapabilities;
  /** Receiver id in the sink (unique per sink). */
  id: string;
  /** How many of the stage's tracks to consume: all by default. */
  tracks?: number;
  timeoutMs?: number;
}

export async function joinBrowserViewer(sink: WebrtcSink, opts: BrowserViewerOptions): Promise<BrowserViewer> {
  const url = new URL(opts.wsUrl);
  url.searchParams.set('room', opts.room);
  const sig = await Signaling.open(url.toString(), opts.timeoutMs ?? 15_000);
  try {
    const joined = await sig.request('join', { name: `Viewer ${opts.id}` });
    await sig.request('setRtpCapabilities', { rtpCapabilities: opts.rtpCapabilities as RequestData<'setRtpCapabilities'>['rtpCapabilities'] });
    const transport: TransportInfo = await sig.request('createTransport', { direction: 'recv' });
    const producerIds = joined.publishers.flatMap((p) => p.producers.map((x) => x.producerId)).slice(0, opts.tracks);
    if (producerIds.length === 0) throw new Error(`room "${opts.room}" has nobody on stage`);
    const consumers: ConsumerInfo[] = [];
    for (const producerId of producerIds) consumers.push(await sig.request('consume', { producerId }));
    const offer = recvOffer(transport as unknown as Parameters<typeof recvOffer>[0], consumers.map((c) => ({ kind: c.kind, rtpParameters: c.rtpParameters as ms.RtpParameters })));
    const answer = await sink.answer(opts.id, offer);
    await sig.request('connectTransport', { transportId: transport.transportId, dtlsParameters: answerDtls(answer) as RequestData<'connectTransport'>['dtlsParameters'] });
    for (const c of consumers) await sig.request('resumeConsumer', { consumerId: c.consumerId });
    return {
      id: opts.id,
      consumers: consumers.map((c) => ({ consumerId: c.consumerId, kind: c.kind, ssrc: (c.rtpParameters as ms.RtpParameters).encodings![0]!.ssrc! })),
      close: async () => {
        sig.ws.close();
        await sink.closePeer(opts.id);
      },
    };
  } catch (err) {
    sig.ws.close();
    throw err;
  }
}
