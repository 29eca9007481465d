import type { types as ms } from 'mediasoup';
import { launchChromium } from '../../test/helpers/browser.js';

/**
 * The RTP capabilities Chromium's viewer page sends to a node (mediasoup-client's Device in
 * the real browser, loaded with the node's router capabilities): read off the page's own
 * WebSocket frames, so bench and load viewers consume exactly as that browser would.
 * Needs the node to serve its pages (the built client).
 */
export async function chromiumRtpCapabilities(httpUrl: string, room: string, timeoutMs = 20_000): Promise<{ rtpCapabilities: ms.RtpCapabilities; chromium: string }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const caps = new Promise<ms.RtpCapabilities>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the viewer page sent no RTP capabilities within ${timeoutMs} ms`)), timeoutMs);
      page.on('websocket', (ws) =>
        ws.on('framesent', ({ payload }) => {
          let msg: { method?: string; data?: { rtpCapabilities?: ms.RtpCapabilities } };
          try {
            msg = JSON.parse(String(payload)) as typeof msg;
          } catch {
            return;
          }
          const found = (msg.method === 'setRtpCapabilities' || msg.method === 'join') && msg.data?.rtpCapabilities;
          if (found) {
            clearTimeout(timer);
            resolve(found);
          }
        }),
      );
    });
    await page.goto(`${httpUrl}/watch.html?room=${encodeURIComponent(room)}`);
    return { rtpCapabilities: await caps, chromium: browser.version() };
  } finally {
    await browser.close();
  }
}
