import type { Page } from 'playwright-core';
import type { NotificationName, Notifications } from '../../src/protocol/messages.js';
import type { PeerStats } from './pages.js';

// Page-side observation of the client: notifications as the page's own
// Signaling object received them, the document's identity (a reload makes a
// new document with a new performance.timeOrigin), and when frames flow again
// after a media reset. `globalThis.fourcast` is what the client exposes.

/** The page globals used here (the code passed to page.evaluate runs in the page). */
interface PageGlobals {
  fourcast?: {
    signaling?: { on(name: string, fn: (data: unknown) => void): unknown };
    stage?: { stats(): Promise<PeerStats> };
  };
  __fourcastRecorded?: Record<string, unknown[]>;
}

export interface Recorded<N extends NotificationName> {
  /** Date.now() in the page when the notification arrived (same machine clock as the test). */
  at: number;
  data: Notifications[N];
}

/**
 * Starts recording every `name` notification the page's Signaling receives,
 * in a global array of the page (idempotent). The listener lives as long as the
 * document: a reloaded page has lost it, and its records.
 */
export async function recordNotifications(page: Page, name: NotificationName): Promise<void> {
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).fourcast?.signaling, null, { timeout: 20_000 });
  await page.evaluate((n) => {
    const g = globalThis as unknown as PageGlobals;
    const recorded = (g.__fourcastRecorded ??= {});
    if (recorded[n]) return;
    const list: unknown[] = (recorded[n] = []);
    g.fourcast!.signaling!.on(n, (data: unknown) => list.push({ at: Date.now(), data }));
  }, name);
}

/** What `recordNotifications` has recorded so far; throws when the page is not recording (e.g. it was reloaded). */
export async function recordedNotifications<N extends NotificationName>(page: Page, name: N): Promise<Recorded<N>[]> {
  const list = await page.evaluate((n) => (globalThis as unknown as PageGlobals).__fourcastRecorded?.[n] ?? null, name);
  if (list === null) throw new Error(`the page is not recording ${name} notifications (was it reloaded?)`);
  return list as Recorded<N>[];
}

/** The document's time origin: it changes when the page is reloaded or navigated. */
export function timeOrigin(page: Page): Promise<number> {
  return page.evaluate(() => performance.timeOrigin);
}

/**
 * Waits until the page has received more than `resetsBefore` mediaReset
 * notifications and then decodes video of every one of `publisherIds` again.
 * A media reset tears the page's consumers down before anything else (their
 * counters restart at zero), and the reset count is read before the stats, so
 * any decoded frame counted here arrived after the reset. Returns Date.now()
 * of the sample that showed it. Needs `recordNotifications(page, 'mediaReset')`.
 */
export async function framesAfterReset(page: Page, publisherIds: string[], resetsBefore: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    const s = await page.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals;
      const resets = g.__fourcastRecorded?.mediaReset?.length ?? -1;
      const stats = (await g.fourcast?.stage?.stats()) ?? {};
      return { resets, stats };
    });
    if (s.resets < 0) throw new Error('the page is not recording mediaReset notifications (was it reloaded?)');
    if (s.resets > resetsBefore && publisherIds.every((id) => (s.stats[id]?.framesDecoded ?? 0) > 0)) return Date.now();
    last = s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for frames after a media reset; last: ${JSON.stringify(last)}`);
}
