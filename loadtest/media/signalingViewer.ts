import WebSocket from 'ws';
import type { RTCPeerConnection } from 'werift';
import type { types as ms } from 'mediasoup';
import type { ConsumerInfo, Method, RequestData, ResponseData, TransportInfo } from '../../src/protocol/messages.js';
import { RtpStreamStats, type RtpStreamSnapshot } from './rtpStats.js';
import { answerWithWerift, plainCapabilitiesFrom, type RemoteTransport } from './weriftViewer.js';

/**
 * A genuine viewer: joins a room through Fourcast's real signaling protocol
 * (WebSocket, join → setRtpCapabilities → createTransport → consume →
 * connectTransport → resumeConsumer), receives over ICE + DTLS + SRTP with
 * werift, and keeps the same per-stream RTP statistics as the cheap bots.
 * It consumes the producers on stage when it joins (a snapshot).
 */
export interface SignalingViewer {
  streams: { consumerId: string; producerId: string; kind: 'audio' | 'video'; ssrc: number }[];
  snapshot(): RtpStreamSnapshot[];
  close(): Promise<void>;
}

export interface SignalingViewerOptions {
  /** The node's WebSocket URL (GET /api/client-config says it), e.g. ws://127.0.0.1:8081/ws. */
  wsUrl: string;
  room: string;
  name?: string;
  /** A viewer token, when the node does not allow anonymous viewers. */
  token?: string;
  timeoutMs?: number;
}

/** Fourcast's signaling protocol over a WebSocket: requests and their responses. */
export class Signaling {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (buf) => {
      const msg = JSON.parse(String(buf)) as { type: string; id?: number; ok?: boolean; data?: unknown; error?: { code: string; message: string } };
      if (msg.type !== 'response' || msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(Object.assign(new Error(`${msg.error?.code}: ${msg.error?.message}`), { code: msg.error?.code }));
    });
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('signaling closed'));
      this.pending.clear();
    });
  }

  static open(url: string, timeoutMs: number): Promise<Signaling> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(new Signaling(ws));
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`WebSocket upgrade refused: ${res.statusCode}`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  request<M extends Method>(method: M, data: RequestData<M>): Promise<ResponseData[M]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }
}

export async function joinSignalingViewer(opts: SignalingViewerOptions): Promise<SignalingViewer> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const url = new URL(opts.wsUrl);
  url.searchParams.set('room', opts.room);
  if (opts.token) url.searchParams.set('token', opts.token);
  const sig = await Signaling.open(url.toString(), timeoutMs);
  let pc: RTCPeerConnection | undefined;
  try {
    const joined = await sig.request('join', { name: opts.name ?? 'werift viewer' });
    const caps = plainCapabilitiesFrom(joined.routerRtpCapabilities as ms.RtpCapabilities, ['video/VP8', 'video/H264', 'audio/opus']);
    await sig.request('setRtpCapabilities', { rtpCapabilities: caps as RequestData<'setRtpCapabilities'>['rtpCapabilities'] });
    const transport: TransportInfo = await sig.request('createTransport', { direction: 'recv' });
    const producerIds = joined.publishers.flatMap((p) => p.producers.map((x) => x.producerId));
    if (producerIds.length === 0) throw new Error(`room "${opts.room}" has nobody on stage`);
    const consumers: ConsumerInfo[] = [];
    for (const producerId of producerIds) consumers.push(await sig.request('consume', { producerId }));

    const stats = new Map<number, RtpStreamStats>();
    const streams = consumers.map((c) => {
      const rtp = c.rtpParameters as ms.RtpParameters;
      const ssrc = rtp.encodings![0]!.ssrc!;
      stats.set(ssrc, new RtpStreamStats(ssrc, rtp.codecs[0]!.clockRate));
      return { consumerId: c.consumerId, producerId: c.producerId, kind: c.kind, ssrc };
    });
    const answer = await answerWithWerift(
      transport as unknown as RemoteTransport,
      consumers.map((c) => ({ id: c.consumerId, kind: c.kind, rtpParameters: c.rtpParameters as ms.RtpParameters })),
      (rtp) => stats.get(rtp.header.ssrc)?.onPacket(rtp.header.sequenceNumber, rtp.header.timestamp, rtp.header.serializeSize + rtp.payload.length, performance.now()),
    );
    pc = answer.pc;
    await sig.request('connectTransport', { transportId: transport.transportId, dtlsParameters: answer.dtlsParameters as RequestData<'connectTransport'>['dtlsParameters'] });
    for (const c of consumers) await sig.request('resumeConsumer', { consumerId: c.consumerId });
    const peer = pc;
    return {
      streams,
      snapshot: () => [...stats.values()].map((s) => s.snapshot(`webrtc:${s.ssrc}`)),
      close: async () => {
        sig.ws.close();
        await peer.close();
      },
    };
  } catch (err) {
    sig.ws.close();
    await pc?.close();
    throw err;
  }
}
