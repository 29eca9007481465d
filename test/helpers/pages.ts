import type { Browser, Page } from 'playwright-core';

export type PeerStats = Record<string, { framesDecoded: number; audioPackets: number; audioSamples: number; frameWidth: number }>;

// Page-side code runs in Chromium: `globalThis.fourcast` is what the client exposes.
export async function stageStats(page: Page): Promise<PeerStats> {
  return page.evaluate(() => ((globalThis as any).fourcast?.stage?.stats() ?? {}) as Promise<PeerStats>);
}

export async function peerIdOf(page: Page): Promise<string | undefined> {
  return page.evaluate(() => (globalThis as any).fourcast?.stage?.info?.peerId as string | undefined);
}

/** On a broadcaster page: waits until it has joined, clicks Go live, waits until it is live; returns its peer id. */
export async function goLive(page: Page, timeoutMs = 20_000): Promise<string> {
  await page.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: timeoutMs });
  await page.click('#go-live');
  await page.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: timeoutMs });
  return (await peerIdOf(page))!;
}

export async function openPage(browser: Browser, url: string, label: string, log: string[]): Promise<Page> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log.push(`[${label}] pageerror ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('404')) log.push(`[${label}] ${m.text()}`);
  });
  await page.goto(url);
  return page;
}

/** Polls `fn` until `ok`; on timeout the error carries the last value and, when given, what `explain` gathers then. */
export async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string, explain?: () => Promise<unknown>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 400));
  }
  const why = explain ? `; state: ${JSON.stringify(await explain().catch((e: Error) => e.message))}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${why}`);
}

/**
 * True when, for every expected broadcaster, frames keep being decoded and audio
 * packets keep arriving: both counters advance within `windowMs` of a first sample
 * (the stream is live, not stale). Sampled every 500 ms, so a loaded machine whose
 * encoder skips a beat is not mistaken for a dead stream.
 */
export async function decodingAll(page: Page, publisherIds: string[], windowMs = 3000): Promise<{ ok: boolean; detail: string }> {
  const a = await stageStats(page);
  const live = (b: PeerStats, id: string) => (b[id]?.framesDecoded ?? 0) > (a[id]?.framesDecoded ?? 0) && (b[id]?.audioPackets ?? 0) > (a[id]?.audioPackets ?? 0);
  const seen = new Set<string>();
  const end = Date.now() + windowMs;
  let b = a;
  while (seen.size < publisherIds.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    b = await stageStats(page);
    for (const id of publisherIds) if (live(b, id)) seen.add(id);
  }
  const bad = publisherIds.filter((id) => !seen.has(id));
  return { ok: bad.length === 0, detail: JSON.stringify({ missing: bad, b }) };
}

/** One getUserMedia call a page made: when (page clock, ms since the epoch) and what it asked for. */
export type MediaRequest = { at: number; audio: boolean; video: boolean };

/**
 * Opens a page that records every getUserMedia call it makes (read them with `mediaRequests`),
 * and waits until it has joined its room: consent flows assert that nothing was asked too early.
 */
export async function openRecordingMedia(browser: Browser, url: string, label: string, log: string[]): Promise<Page> {
  const ctx = await browser.newContext();
  // Page code, as text: the tests' TypeScript has no DOM types.
  await ctx.addInitScript({
    content: `{
      const calls = [];
      globalThis.__mediaRequests = calls;
      const md = navigator.mediaDevices;
      const orig = md.getUserMedia.bind(md);
      md.getUserMedia = (c) => {
        calls.push({ at: Date.now(), audio: Boolean(c && c.audio), video: Boolean(c && c.video) });
        return orig(c);
      };
    }`,
  });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log.push(`[${label}] pageerror ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('404')) log.push(`[${label}] ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
  return page;
}

export function mediaRequests(page: Page): Promise<MediaRequest[]> {
  return page.evaluate(() => (globalThis as any).__mediaRequests as MediaRequest[]);
}
