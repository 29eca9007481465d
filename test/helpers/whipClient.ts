import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';

/**
 * Standard WHIP/WHEP clients in Chromium: plain RTCPeerConnection and fetch,
 * as RFC 9725 and the WHEP draft describe them, no mediasoup-client. The page
 * lives on an origin of its own (another port), so every request is
 * cross-origin and goes through the server's CORS answers as a player's would.
 */

/** An empty page on its own origin (127.0.0.1 is a secure context: getUserMedia works). */
export async function startPlainOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>WHIP/WHEP test client</title><body></body>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function openClientPage(browser: Browser, originUrl: string, label: string, log: string[]): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => log.push(`[${label}] pageerror ${e.message}`));
  await page.goto(originUrl);
  return page;
}

export interface PostResult {
  status: number;
  body: string;
  /** Index of the session in the page (for delete/stats), when created. */
  index?: number;
  location?: string;
  etag?: string | null;
  link?: string | null;
}

/** WHIP: publishes the fake camera and microphone to `endpoint` with `token`; `simulcast` offers three RID layers, as browsers broadcasting to SFUs do. */
export function whipPublish(page: Page, endpoint: string, token: string | undefined, { simulcast = false } = {}): Promise<PostResult> {
  return postOffer(page, endpoint, token, { publish: { simulcast } });
}

/** WHEP: receives `slots` audio+video pairs from `endpoint`, playing each track in an element as a player would. */
export function whepWatch(page: Page, endpoint: string, token: string | undefined, slots: number): Promise<PostResult> {
  return postOffer(page, endpoint, token, { watch: { slots } });
}

/** The RFC's exchange, in the page: build the peer connection, wait for ICE gathering (no trickle), POST, apply the answer. */
function postOffer(page: Page, endpoint: string, token: string | undefined, mode: { publish?: { simulcast: boolean }; watch?: { slots: number } }): Promise<PostResult> {
  return page.evaluate(
    async ({ endpoint, token, mode }) => {
      const w = globalThis as any;
      w.sessions ??= [];
      const pc = new w.RTCPeerConnection();
      let stream: any;
      const tracks: unknown[] = [];
      if (mode.publish) {
        stream = await w.navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 15 } });
        for (const track of stream.getTracks()) {
          const layers = track.kind === 'video' && mode.publish.simulcast ? { sendEncodings: [{ rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }] } : {};
          pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], ...layers });
        }
      } else {
        for (let i = 0; i < mode.watch!.slots; i++) {
          pc.addTransceiver('audio', { direction: 'recvonly' });
          pc.addTransceiver('video', { direction: 'recvonly' });
        }
        pc.ontrack = (e: any) => {
          tracks.push(e.track);
          // Played, as a player would: audio is only decoded for a playing element.
          const el = w.document.createElement(e.track.kind === 'video' ? 'video' : 'audio');
          el.autoplay = true;
          el.muted = true;
          el.srcObject = new w.MediaStream([e.track]);
          w.document.body.append(el);
        };
      }
      await pc.setLocalDescription(await pc.createOffer());
      // No trickle: the offer goes once gathering is done (loopback: a few ms).
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
        setTimeout(resolve, 2000);
      });
      const headers: Record<string, string> = { 'content-type': 'application/sdp' };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(endpoint, { method: 'POST', headers, body: pc.localDescription!.sdp });
      const body = await res.text();
      if (res.status !== 201) {
        pc.close();
        for (const t of stream?.getTracks() ?? []) t.stop();
        return { status: res.status, body };
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      const location = new URL(res.headers.get('location')!, endpoint).href;
      w.sessions.push({ pc, stream, location, token, tracks });
      return { status: 201, body, index: w.sessions.length - 1, location, etag: res.headers.get('etag'), link: res.headers.get('link') };
    },
    { endpoint, token, mode },
  );
}

export async function connectionState(page: Page, index: number): Promise<string> {
  return page.evaluate((i) => (globalThis as any).sessions[i].pc.connectionState as string, index);
}

/** DELETE on the session resource (with its token); the peer connection closes after. Returns the status. */
export async function deleteSession(page: Page, index: number): Promise<number> {
  return page.evaluate(async (i) => {
    const s = (globalThis as any).sessions[i];
    const headers: Record<string, string> = {};
    if (s.token) headers.authorization = `Bearer ${s.token}`;
    const res = await fetch(s.location, { method: 'DELETE', headers });
    s.pc.close();
    for (const t of s.stream?.getTracks() ?? []) t.stop();
    return res.status;
  }, index);
}

export type ReceiverStats = Record<string, { kind: string; ssrc: number; framesDecoded: number; packetsReceived: number; samples: number }>;

/** Per answered section (by MID): what the WHEP page's inbound streams received. */
export async function receiverStats(page: Page, index: number): Promise<ReceiverStats> {
  return page.evaluate(async (i) => {
    const pc = (globalThis as any).sessions[i].pc;
    const out: Record<string, { kind: string; ssrc: number; framesDecoded: number; packetsReceived: number; samples: number; last: number }> = {};
    const stats = await pc.getStats();
    stats.forEach((s: any) => {
      if (s.type !== 'inbound-rtp' || s.mid === undefined) return;
      const prev = out[s.mid];
      // After a slot changed broadcaster, the stream that received last is the one playing.
      if (prev && prev.last > (s.lastPacketReceivedTimestamp ?? 0)) return;
      out[s.mid] = { kind: s.kind, ssrc: s.ssrc, framesDecoded: s.framesDecoded ?? 0, packetsReceived: s.packetsReceived ?? 0, samples: s.totalSamplesReceived ?? 0, last: s.lastPacketReceivedTimestamp ?? 0 };
    });
    return out;
  }, index);
}
