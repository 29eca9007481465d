import type { Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';

// What a failed media wait prints: both ends of one viewer's media, so a stall
// can be told apart (nothing sent, paused, ICE/DTLS down, or received and not decoded).

/** The server's view of a peer: its transports and consumers, with mediasoup's own counters. */
export async function serverMediaOf(node: Fourcast, room: string, peerId: string): Promise<unknown> {
  const peer = node.rooms.get(room)?.peers.get(peerId);
  if (!peer) return { peer: 'gone' };
  const transports = await Promise.all(
    [...peer.transports.values()].map(async ({ transport: t, rr, direction }) => {
      const s = (await t.getStats().catch(() => []))[0];
      return {
        direction,
        worker: rr.workerIndex,
        ice: t.iceState,
        dtls: t.dtlsState,
        bytesSent: s?.bytesSent,
        sendBitrate: s?.sendBitrate,
        availableOutgoingBitrate: s?.availableOutgoingBitrate,
      };
    }),
  );
  const consumers = await Promise.all(
    [...peer.consumers.values()].map(async (c) => {
      const out = (await c.getStats().catch(() => [])).find((x) => x.type === 'outbound-rtp');
      return { kind: c.kind, paused: c.paused, producerPaused: c.producerPaused, score: c.score, layers: c.currentLayers, packetsSent: out?.packetCount };
    }),
  );
  return { transports, consumers };
}

/** The page's view: transport states, ICE pairs and per-track receive counters. */
export async function pageMediaOf(page: Page): Promise<unknown> {
  return page
    .evaluate(async () => {
      const stage = (globalThis as any).fourcast?.stage;
      if (!stage) return { stage: 'none' };
      const pairs: unknown[] = [];
      const recv = stage.recvTransport;
      if (recv && !recv.closed) {
        (await recv.getStats()).forEach((r: any) => {
          if (r.type === 'candidate-pair' && r.nominated) pairs.push({ state: r.state, bytesReceived: r.bytesReceived, lastPacketReceivedTimestamp: r.lastPacketReceivedTimestamp });
          if (r.type === 'inbound-rtp') pairs.push({ kind: r.kind, packets: r.packetsReceived, frames: r.framesDecoded, lost: r.packetsLost, nack: r.nackCount, pli: r.pliCount, framesDropped: r.framesDropped });
        });
      }
      return { transportState: stage.transportState, recvClosed: recv?.closed, stats: pairs, hidden: (globalThis as any).document.hidden };
    })
    .catch((e: Error) => ({ error: e.message }));
}
