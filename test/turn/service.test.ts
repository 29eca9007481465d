import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { TurnService, type TurnOutcome, type TurnProviderName } from '../../src/turn/service.js';
import { captureLog } from '../helpers/captureLog.js';

const base: Config['turn'] = { twilio: undefined, coturn: undefined, stunUrls: ['stun:a.example.test:3478', 'stun:b.example.test:19302'], ttlSeconds: 900 };
const coturn = { secret: 'coturn-secret', urls: ['turn:turn.example.test:3478?transport=udp'] };

describe('TurnService without Twilio', () => {
  it('answers STUN only when nothing else is configured', async () => {
    const outcomes: [TurnProviderName, TurnOutcome][] = [];
    const svc = new TurnService(base, captureLog().log, { onOutcome: (p, o) => void outcomes.push([p, o]) });
    expect(svc.chain).toEqual(['stun']);
    expect(await svc.credentials('x')).toEqual({ provider: 'stun', ttl: 900, iceServers: [{ urls: base.stunUrls }] });
    expect(outcomes).toEqual([['stun', 'ok']]);
  });

  it('answers an empty list when not even STUN is configured', async () => {
    const svc = new TurnService({ ...base, stunUrls: [] }, captureLog().log);
    expect(await svc.credentials()).toEqual({ provider: 'stun', ttl: 900, iceServers: [] });
  });

  it('issues coturn credentials expiring ttlSeconds from its clock', async () => {
    const outcomes: [TurnProviderName, TurnOutcome][] = [];
    const svc = new TurnService({ ...base, coturn }, captureLog().log, { now: () => 1_000_000_000_000, onOutcome: (p, o) => void outcomes.push([p, o]) });
    expect(svc.chain).toEqual(['coturn', 'stun']);
    const creds = await svc.credentials('viewer_42');
    expect(creds.provider).toBe('coturn');
    expect(creds.iceServers.at(-1)?.username).toBe(`${1_000_000_000 + 900}:viewer_42`);
    expect(outcomes).toEqual([['coturn', 'ok']]);
  });

  it('picks a random URL-safe peer key when none is given', async () => {
    const svc = new TurnService({ ...base, coturn }, captureLog().log);
    const a = (await svc.credentials()).iceServers.at(-1)?.username;
    const b = (await svc.credentials()).iceServers.at(-1)?.username;
    expect(a).toMatch(/^\d+:[A-Za-z0-9_-]{12}$/);
    expect(a?.split(':')[1]).not.toBe(b?.split(':')[1]);
  });

  it('survives an onOutcome hook that throws', async () => {
    const cap = captureLog();
    const svc = new TurnService(base, cap.log, {
      onOutcome: () => {
        throw new Error('metrics broke');
      },
    });
    expect((await svc.credentials()).provider).toBe('stun');
    expect(cap.text()).toContain('metrics broke');
  });

  it('lists Twilio first when configured', () => {
    const svc = new TurnService({ ...base, coturn, twilio: { accountSid: `AC${'a'.repeat(32)}`, authToken: 't' } }, captureLog().log);
    expect(svc.chain).toEqual(['twilio', 'coturn', 'stun']);
  });

  it('rejects options that make no sense', () => {
    const log = captureLog().log;
    expect(() => new TurnService(base, log, { cacheFraction: 1 })).toThrow(RangeError);
    expect(() => new TurnService(base, log, { cacheFraction: -0.1 })).toThrow(RangeError);
    expect(() => new TurnService(base, log, { timeoutMs: 0 })).toThrow(RangeError);
  });
});
