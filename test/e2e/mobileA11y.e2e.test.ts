import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

// The pages on a phone (390×844) and with axe-core run inside them.
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const ROOM = 'phone';

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

async function axe(page: Page): Promise<Violation[]> {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => (globalThis as any).axe.run((globalThis as any).document, { resultTypes: ['violations'] }) as Promise<{ violations: Violation[]; passes: unknown[] }>);
  // axe really ran its rules on this page.
  expect(result.passes.length).toBeGreaterThan(10);
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const describeViolations = (vs: Violation[]) => vs.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n');

/** Visible interactive elements smaller than 44×44 CSS px (links inside chat text are inline and exempt). */
async function smallTargets(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const g = globalThis as any;
    const out: string[] = [];
    for (const e of g.document.querySelectorAll('button, input, select, summary, a, [role="button"]') as any[]) {
      if (e.closest('.chat .text')) continue;
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || g.getComputedStyle(e).visibility === 'hidden') continue;
      if (r.height < 44 || r.width < 44) out.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(r.width)}×${Math.round(r.height)}`);
    }
    return out;
  });
}

/** What is drawn at the centre of Send, after scrolling it into view: Send itself, or what covers it. */
async function coversSend(page: Page): Promise<string | null> {
  await page.locator('.chat-form button').scrollIntoViewIfNeeded();
  return page.evaluate(() => {
    const document = (globalThis as any).document;
    const send = document.querySelector('.chat-form button');
    const r = send.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return top && (top === send || send.contains(top)) ? null : `${top?.tagName}#${top?.id}.${top?.className}`;
  });
}

describe('phone viewport and accessibility', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  let casterUrl: string;

  const open = async (url: string, opts: BrowserContextOptions = {}): Promise<Page> => {
    const ctx = await browser.newContext(opts);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => log.push(`pageerror ${e.message}`));
    await page.goto(url);
    return page;
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1' });
    browser = await launchChromium();
    const token = await node.tokens.mint({ role: 'publisher', room: ROOM, name: 'Phone Caster', ttlSeconds: 600 });
    casterUrl = `${node.urls.http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`;
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 40).join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('on a 390×844 phone: no horizontal overflow, touch targets ≥ 44 px, nothing covers Send', async () => {
    const caster = await open(casterUrl, PHONE);
    await caster.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
    // A long device name (real cameras have them) must not widen the page.
    await caster.evaluate(() => {
      const g = globalThis as any;
      const sel = g.document.querySelector('#camera');
      sel.add(new g.Option('Integrated Webcam HD with an unusually long marketing name (1bcf:2b8a) — front', 'long'));
      sel.value = 'long';
    });
    await caster.click('#go-live');
    await caster.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });

    const viewer = await open(`${node.urls.http}/watch.html?room=${ROOM}&name=Pat`, PHONE);
    await poll(() => viewer.locator('#stage .tile').getAttribute('data-state').catch(() => null), (s) => s === 'live', 20_000, 'tile live on the phone');
    // Too long a paste is not cut silently: the counter says by how much, and Send waits.
    await viewer.fill('#chat-input', 'x'.repeat(563));
    expect(await viewer.textContent('#chat-counter')).toBe('63 characters too long (limit 500)');
    expect(await viewer.locator('.chat-form button').isDisabled()).toBe(true);
    expect(await viewer.inputValue('#chat-input')).toHaveLength(563);
    await viewer.fill('#chat-input', 'hello from a phone, see https://example.org/page');
    expect(await viewer.locator('.chat-form button').isDisabled()).toBe(false);
    await viewer.press('#chat-input', 'Enter');
    await caster.waitForSelector('.chat .msg:has-text("hello from a phone")', { timeout: 10_000 });

    for (const [label, page] of [
      ['broadcast', caster],
      ['watch', viewer],
    ] as const) {
      const width = await page.evaluate(() => {
        const d = (globalThis as any).document;
        return { doc: d.documentElement.scrollWidth as number, body: d.body.scrollWidth as number };
      });
      expect(width.doc, `${label} scrollWidth`).toBeLessThanOrEqual(390);
      expect(width.body, `${label} body scrollWidth`).toBeLessThanOrEqual(390);
      expect(await smallTargets(page), `${label}: small touch targets`).toEqual([]);
      expect(await coversSend(page), `${label}: Send covered`).toBeNull();
    }
    // The tile fills the phone's width (not 175×98 with empty space below).
    const box = (await viewer.locator('#stage .tile').boundingBox())!;
    expect(box.width).toBeGreaterThan(340);
    // The unmute offer and a toast, when shown, still leave Send uncovered.
    await viewer.evaluate(() => (globalThis as any).document.querySelector('#unmute').classList.remove('hidden'));
    await viewer.evaluate(() => {
      const document = (globalThis as any).document;
      const t = document.createElement('div');
      t.id = 'toast';
      t.className = 'toast info';
      t.textContent = 'A notice';
      document.body.append(t);
    });
    expect(await coversSend(viewer), 'watch with unmute + toast: Send covered').toBeNull();
    expect(await viewer.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number)).toBeLessThanOrEqual(390);
    // Links in chat are real anchors, opened safely.
    const link = caster.locator('.chat .msg .text a');
    expect(await link.getAttribute('href')).toBe('https://example.org/page');
    expect(await link.getAttribute('rel')).toMatch(/noopener/);
    await caster.context().close();
    await viewer.context().close();
  });

  it('axe-core finds no serious or critical violations on the lobby, watch and broadcast pages', async () => {
    const lobby = await open(`${node.urls.http}/`);
    const lobbyViolations = await axe(lobby);
    expect(lobbyViolations, describeViolations(lobbyViolations)).toEqual([]);
    expect(await lobby.locator('h1').count()).toBe(1);
    expect(await lobby.textContent('body')).toMatch(/broadcaster link/i);
    expect((await fetch(`${node.urls.http}/favicon.svg`)).status).toBe(200);
    // A viewer name that claims a role is refused in the lobby, with the reason.
    await lobby.fill('input[name="name"]', 'Alice (host)');
    expect(await lobby.textContent('#name-error')).toMatch(/reserved for hosts/);

    const caster = await open(casterUrl);
    await caster.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
    await caster.click('#go-live');
    await caster.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
    const viewer = await open(`${node.urls.http}/watch.html?room=${ROOM}&name=Sam`);
    await poll(() => viewer.locator('#stage .tile').getAttribute('data-state').catch(() => null), (s) => s === 'live', 20_000, 'tile live');
    await viewer.fill('#chat-input', 'a line so the chat has content');
    await viewer.press('#chat-input', 'Enter');
    await caster.waitForSelector('.chat .msg:has-text("a line so the chat")', { timeout: 10_000 });
    await caster.click('#mute-mic');
    await poll(() => viewer.locator('#stage .tile').getAttribute('data-mic'), (s) => s === 'muted', 10_000, 'mic muted');

    for (const [label, page] of [
      ['watch', viewer],
      ['broadcast', caster],
    ] as const) {
      const violations = await axe(page);
      expect(violations, `${label}:\n${describeViolations(violations)}`).toEqual([]);
      expect(await page.locator('h1').count(), `${label} h1`).toBe(1);
      expect(await page.locator('#chat-input').evaluate((i: any) => i.labels?.[0]?.textContent as string | undefined)).toBe('Chat message');
    }
    // The primary button's contrast is at least 4.5:1 (white on the accent colour).
    const ratio = await caster.evaluate(() => {
      const g = globalThis as any;
      const lum = (c: string) => {
        const [r, g, b] = c.match(/\d+/g)!.slice(0, 3).map((x) => {
          const v = Number(x) / 255;
          return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
      };
      const p = g.getComputedStyle(g.document.querySelector('#go-live')) as { color: string; backgroundColor: string };
      const [a, b] = [lum(p.color), lum(p.backgroundColor)].sort((x, y) => y - x);
      return (a! + 0.05) / (b! + 0.05);
    });
    expect(ratio).toBeGreaterThanOrEqual(4.5);
    // States are in words, not only colour or emoji: the muted mic, the Host badge.
    expect(await viewer.locator('#stage .tile .mic-off .mic-text').textContent()).toBe('Microphone muted');
    expect(await viewer.locator('#stage .tile .host-badge').textContent()).toBe('Host');
  });
});
