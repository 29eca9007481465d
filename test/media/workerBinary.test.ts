import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as mediasoup from 'mediasoup';
import { afterAll, describe, expect, it } from 'vitest';
import { describeWorkerBinary, formatWorkerBinary, originFileOf } from '../../src/media/workerBinary.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-workerbin-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
let n = 0;
/** A stand-in binary with the given content, and optionally its origin record. */
function binary(content: string, record?: unknown): string {
  const bin = path.join(tmp, `w${++n}`, 'mediasoup-worker');
  fs.mkdirSync(path.dirname(bin));
  fs.writeFileSync(bin, content, { mode: 0o755 });
  if (record !== undefined) fs.writeFileSync(originFileOf(bin), typeof record === 'string' ? record : JSON.stringify(record));
  return bin;
}

describe('describeWorkerBinary', () => {
  it('reports the origin record written next to the binary when it describes this file', async () => {
    const bin = binary('source-built', { origin: 'source', mediasoupVersion: '3.15.8', sha256: sha('source-built'), cacheKey: '3.15.8-debian-12-x86_64-nouring-abc', obtainedAt: '2026-11-29T00:00:00Z' });
    expect(await describeWorkerBinary(bin)).toEqual({ path: bin, origin: 'source', mediasoupVersion: '3.15.8', sha256: sha('source-built'), cacheKey: '3.15.8-debian-12-x86_64-nouring-abc' });
    const pre = binary('from-upstream', { origin: 'prebuilt', mediasoupVersion: '3.15.8', sha256: sha('from-upstream'), cacheKey: 'prebuilt-3.15.8-linux-x64-kernel6' });
    expect(await describeWorkerBinary(pre)).toMatchObject({ origin: 'prebuilt', cacheKey: 'prebuilt-3.15.8-linux-x64-kernel6' });
  });

  it('says unknown when the record is missing, malformed or describes another file', async () => {
    const base = { path: expect.any(String), origin: 'unknown', mediasoupVersion: mediasoup.version };
    expect(await describeWorkerBinary(binary('no-record'))).toEqual({ ...base, sha256: sha('no-record') });
    expect(await describeWorkerBinary(binary('bad-json', '{not json'))).toEqual({ ...base, sha256: sha('bad-json') });
    expect(await describeWorkerBinary(binary('bad-origin', { origin: 'magic', mediasoupVersion: '3.15.8', sha256: sha('bad-origin') }))).toEqual({ ...base, sha256: sha('bad-origin') });
    // Replaced by hand after the record was written: the record is not believed.
    expect(await describeWorkerBinary(binary('replaced', { origin: 'source', mediasoupVersion: '3.15.8', sha256: sha('original') }))).toEqual({ ...base, sha256: sha('replaced') });
  });

  it('has no sha256 for a binary that does not exist', async () => {
    const bin = path.join(tmp, 'missing', 'mediasoup-worker');
    expect(await describeWorkerBinary(bin)).toEqual({ path: bin, origin: 'unknown', mediasoupVersion: mediasoup.version });
  });

  it('hashes again when the file changes (a re-install replaces it)', async () => {
    const bin = binary('first', { origin: 'source', mediasoupVersion: '3.15.8', sha256: sha('first') });
    expect((await describeWorkerBinary(bin)).origin).toBe('source');
    fs.writeFileSync(`${bin}.tmp`, 'second', { mode: 0o755 });
    fs.renameSync(`${bin}.tmp`, bin);
    expect(await describeWorkerBinary(bin)).toMatchObject({ origin: 'unknown', sha256: sha('second') });
  });

  it('defaults to the binary mediasoup spawns', async () => {
    expect((await describeWorkerBinary()).path).toBe(mediasoup.workerBin);
  });

  it('formats one line for reports', () => {
    expect(formatWorkerBinary({ path: '/w', origin: 'source', mediasoupVersion: '3.15.8', sha256: 'ab'.repeat(32), cacheKey: 'k' })).toBe(
      'source build for mediasoup 3.15.8 at /w (sha256 abababababab, cache k)',
    );
    expect(formatWorkerBinary({ path: '/w', origin: 'unknown', mediasoupVersion: '3.15.8' })).toBe('binary of unknown origin for mediasoup 3.15.8 at /w (unreadable)');
  });
});
