import { describe, expect, it } from 'vitest';
import { AccessRefused, authorise, type AccessPolicy } from '../../src/auth/access.js';
import { TokenService } from '../../src/auth/tokens.js';

const tokens = new TokenService('access-test-secret-access-test-secret-01');
const policy = (over: Partial<AccessPolicy> = {}): AccessPolicy => ({ tokens, allowAnonymousViewers: true, isDraining: () => false, isBanned: () => false, ...over });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(AccessRefused);
      const e = err as AccessRefused;
      return { status: e.status, code: e.code, message: e.message };
    },
  );

describe('authorise', () => {
  it('admits a publisher token for its room and keys bans by token and address', async () => {
    const token = await tokens.mint({ role: 'publisher', room: 'stage', name: 'Ann', ttlSeconds: 60 });
    const g = await authorise({ room: 'stage', token, remote: '198.51.100.1' }, policy());
    expect(g).toMatchObject({ role: 'publisher', room: 'stage', name: 'Ann' });
    expect(g.banKeys).toEqual([`tok:${g.tokenId}`, 'ip:198.51.100.1']);
  });

  it('admits anonymous viewers by address when allowed', async () => {
    expect(await authorise({ room: 'stage', token: null, remote: '198.51.100.1' }, policy())).toMatchObject({ role: 'viewer', banKeys: ['ip:198.51.100.1'] });
    expect(await refusal(authorise({ room: 'stage', token: null, remote: '198.51.100.1' }, policy({ allowAnonymousViewers: false })))).toMatchObject({
      status: 401,
      code: 'token-required',
    });
  });

  it('says what is wrong with a refused link and what to do', async () => {
    const expired = await tokens.mint({ role: 'publisher', room: 'stage', name: 'Ann', ttlSeconds: -10 });
    expect(await refusal(authorise({ room: 'stage', token: expired, remote: 'x' }, policy()))).toEqual({ status: 401, code: 'token-expired', message: expect.stringMatching(/expired.*new link/) });
    const other = await new TokenService('another-secret-another-secret-another-1').mint({ role: 'publisher', room: 'stage', name: 'Eve', ttlSeconds: 60 });
    expect(await refusal(authorise({ room: 'stage', token: other, remote: 'x' }, policy()))).toMatchObject({ status: 401, code: 'token-invalid' });
    const elsewhere = await tokens.mint({ role: 'publisher', room: 'green', name: 'Ann', ttlSeconds: 60 });
    expect(await refusal(authorise({ room: 'stage', token: elsewhere, remote: 'x' }, policy()))).toEqual({ status: 403, code: 'forbidden', message: expect.stringContaining('"green"') });
    expect(await refusal(authorise({ room: 'bad room!', token: null, remote: 'x' }, policy()))).toMatchObject({ status: 400, code: 'bad-request' });
    expect(await refusal(authorise({ room: 'stage', token: null, remote: 'x' }, policy({ isBanned: (_r, keys) => keys.includes('ip:x') })))).toMatchObject({
      status: 403,
      code: 'banned',
    });
    expect(await refusal(authorise({ room: 'stage', token: null, remote: 'x' }, policy({ isDraining: () => true })))).toMatchObject({ status: 503, code: 'draining' });
  });
});
