import { describe, expect, it } from 'vitest';
import { withTimeout } from '../../src/media/timeout.js';

describe('withTimeout', () => {
  it('passes a prompt answer through', async () => {
    expect(await withTimeout(Promise.resolve(7), 50, 'x')).toBe(7);
  });

  it('rejects a slow request with a typed media-unavailable error naming it, and hands the late value to onLate', async () => {
    const late: string[] = [];
    const slow = new Promise<string>((r) => setTimeout(() => r('transport'), 60));
    await expect(withTimeout(slow, 10, 'createWebRtcTransport', (v) => late.push(v))).rejects.toMatchObject({
      name: 'ProtocolError',
      code: 'media-unavailable',
      message: expect.stringContaining('createWebRtcTransport'),
    });
    await slow;
    await new Promise((r) => setTimeout(r, 5));
    expect(late).toEqual(['transport']);
  });

  it('passes a prompt failure through and does not call onLate', async () => {
    const late: unknown[] = [];
    await expect(withTimeout(Promise.reject(new Error('boom')), 50, 'x', (v) => late.push(v))).rejects.toThrow('boom');
    expect(late).toEqual([]);
  });

  it('a late failure after the timeout is swallowed (no unhandled rejection)', async () => {
    const slow = new Promise<never>((_, j) => setTimeout(() => j(new Error('late')), 30));
    await expect(withTimeout(slow, 5, 'x')).rejects.toMatchObject({ code: 'media-unavailable' });
    await new Promise((r) => setTimeout(r, 50));
  });
});
