import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { TurnService, type TurnOutcome, type TurnProviderName } from '../../src/turn/service.js';
import { mapTwilioIceServers } from '../../src/turn/twilio.js';
import { captureLog } from '../helpers/captureLog.js';
import { RedirectingRequestClient, startTwilioStandIn, type TwilioStandIn } from '../helpers/twilioStandIn.js';

// The real twilio SDK (request building, auth, form encoding, JSON parsing,
// RestException) talking HTTP to a local stand-in for api.twilio.com.

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'auth-token-that-must-not-be-logged';

function turnConfig(over: Partial<Config['turn']> = {}): Config['turn'] {
  return {
    twilio: { accountSid: SID, authToken: AUTH_TOKEN },
    coturn: undefined,
    stunUrls: ['stun:stun.example.test:3478'],
    ttlSeconds: 600,
    ...over,
  };
}

const coturn = { secret: 'coturn-secret', urls: ['turn:turn.example.test:3478?transport=udp'] };

let standIn: TwilioStandIn;
let outcomes: [TurnProviderName, TurnOutcome][];
const onOutcome = (p: TurnProviderName, o: TurnOutcome) => void outcomes.push([p, o]);

beforeEach(async () => {
  standIn = await startTwilioStandIn();
  outcomes = [];
});
afterEach(async () => {
  await standIn.close();
});

function service(cfg: Config['turn'], opts: { timeoutMs?: number; cacheFraction?: number; now?: () => number } = {}, log = captureLog().log) {
  return new TurnService(cfg, log, { twilioHttpClient: new RedirectingRequestClient(standIn.url), onOutcome, ...opts });
}

describe('Twilio Network Traversal tokens', () => {
  it('sends POST Tokens.json with Basic auth and Ttl, and maps ice_servers', async () => {
    const creds = await service(turnConfig()).credentials('ignored-by-twilio');

    expect(standIn.requests).toHaveLength(1);
    const req = standIn.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/2010-04-01/Accounts/${SID}/Tokens.json`);
    expect(req.authorization).toBe(`Basic ${Buffer.from(`${SID}:${AUTH_TOKEN}`).toString('base64')}`);
    expect(req.contentType).toContain('application/x-www-form-urlencoded');
    expect([...req.form.entries()]).toEqual([['Ttl', '600']]);

    const auth = { username: 'twilio-user-1', credential: 'twilio-pass-1' };
    expect(creds).toEqual({
      provider: 'twilio',
      ttl: 600,
      iceServers: [
        { urls: ['stun:global.stun.twilio.com:3478'] },
        { urls: ['turn:global.turn.twilio.com:3478?transport=udp'], ...auth },
        { urls: ['turn:global.turn.twilio.com:3478?transport=tcp'], ...auth },
        { urls: ['turn:global.turn.twilio.com:443?transport=tcp'], ...auth },
      ],
    });
    expect(outcomes).toEqual([['twilio', 'ok']]);
  });

  it('reuses a token for half its lifetime without an HTTP call, then fetches a fresh one', async () => {
    let now = 1_700_000_000_000;
    const svc = service(turnConfig(), { now: () => now });

    const first = await svc.credentials();
    now += 299_000;
    const second = await svc.credentials();
    expect(standIn.requests).toHaveLength(1);
    expect(second.iceServers).toEqual(first.iceServers);
    expect(second.ttl).toBe(600 - 299); // what is left of the token's life, not the full ttl

    now += 1_000; // 300 s: half of 600
    const third = await svc.credentials();
    expect(standIn.requests).toHaveLength(2);
    expect(third.ttl).toBe(600);
    expect(third.iceServers[1]?.credential).toBe('twilio-pass-2');
    expect(outcomes).toEqual([['twilio', 'ok'], ['twilio', 'cached'], ['twilio', 'ok']]);
  });

  it('honours a configured cache fraction (0 = always ask)', async () => {
    const svc = service(turnConfig(), { cacheFraction: 0 });
    await svc.credentials();
    await svc.credentials();
    expect(standIn.requests).toHaveLength(2);
  });

  it('shares one HTTP call between concurrent requests', async () => {
    standIn.delayMs = 100;
    const svc = service(turnConfig());
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => svc.credentials()));
    expect(standIn.requests).toHaveLength(1);
    expect(new Set(all.map((c) => c.iceServers[1]?.credential))).toEqual(new Set(['twilio-pass-1']));
  });

  it('falls back to coturn on a Twilio 500, logs and counts it', async () => {
    standIn.mode = 'error';
    const cap = captureLog();
    const creds = await service(turnConfig({ coturn }), {}, cap.log).credentials('alice');

    expect(standIn.requests).toHaveLength(1);
    expect(creds.provider).toBe('coturn');
    expect(creds.iceServers.at(-1)?.username).toMatch(/^\d+:alice$/);
    expect(outcomes).toEqual([['twilio', 'error'], ['coturn', 'ok']]);
    const warn = cap.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 40);
    expect(warn).toMatchObject({ component: 'turn', outcome: 'error', fallback: 'coturn', err: { status: 500, code: 20500 } });
  });

  it('falls back to STUN on a Twilio 500 when coturn is not configured', async () => {
    standIn.mode = 'error';
    const creds = await service(turnConfig()).credentials();
    expect(creds).toEqual({ provider: 'stun', ttl: 600, iceServers: [{ urls: ['stun:stun.example.test:3478'] }] });
    expect(outcomes).toEqual([['twilio', 'error'], ['stun', 'ok']]);
  });

  it('falls back after the timeout when Twilio never answers', async () => {
    standIn.mode = 'hang';
    const started = performance.now();
    const creds = await service(turnConfig({ coturn }), { timeoutMs: 300 }).credentials();
    const elapsed = performance.now() - started;

    expect(creds.provider).toBe('coturn');
    expect(standIn.requests).toHaveLength(1); // it was asked, it just did not answer
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    expect(outcomes).toEqual([['twilio', 'timeout'], ['coturn', 'ok']]);
  });

  it('keeps a token that arrives after the caller gave up, for the next request', async () => {
    standIn.delayMs = 400;
    const svc = service(turnConfig({ coturn }), { timeoutMs: 150 });
    expect((await svc.credentials()).provider).toBe('coturn');
    await new Promise((r) => setTimeout(r, 500));
    const next = await svc.credentials();
    expect(next.provider).toBe('twilio');
    expect(standIn.requests).toHaveLength(1);
    expect(outcomes).toEqual([['twilio', 'timeout'], ['coturn', 'ok'], ['twilio', 'cached']]);
  });

  it('does not remember failures: the next request asks Twilio again', async () => {
    standIn.mode = 'error';
    const svc = service(turnConfig());
    expect((await svc.credentials()).provider).toBe('stun');
    standIn.mode = 'ok';
    expect((await svc.credentials()).provider).toBe('twilio');
    expect(standIn.requests).toHaveLength(2);
  });

  it('never writes the auth token to the log, even for transport errors', async () => {
    await standIn.close(); // connection refused: an axios error carrying the request config
    const cap = captureLog();
    const creds = await service(turnConfig(), {}, cap.log).credentials();
    expect(creds.provider).toBe('stun');
    expect(outcomes).toEqual([['twilio', 'error'], ['stun', 'ok']]);
    expect(cap.text()).toContain('ECONNREFUSED');
    expect(cap.text()).not.toContain(AUTH_TOKEN);
    expect(cap.text()).not.toContain(Buffer.from(`${SID}:${AUTH_TOKEN}`).toString('base64'));
  });
});

describe('mapTwilioIceServers', () => {
  it('prefers urls over url, keeps arrays, drops entries without a URL and empty auth fields', () => {
    expect(
      mapTwilioIceServers([
        { url: 'stun:old', urls: 'stun:new' },
        { url: 'turn:legacy-only', username: 'u', credential: 'c' },
        { urls: ['turn:a', 'turn:b'], username: '', credential: undefined },
        { username: 'orphan' },
      ]),
    ).toEqual([{ urls: ['stun:new'] }, { urls: ['turn:legacy-only'], username: 'u', credential: 'c' }, { urls: ['turn:a', 'turn:b'] }]);
    expect(mapTwilioIceServers(null)).toEqual([]);
  });
});
