import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { describeWorkerBinary } from '../../src/media/workerBinary.js';

// scripts/mediasoup-worker/build.sh in a sandbox: a copy of the scripts next to a stand-in
// node_modules/mediasoup, a private cache folder, and "workers" that are shell scripts
// exiting 41 (what build.sh checks a binary by). The upstream prebuilt comes from a
// file:// URL (MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL). apt-get and dpkg-query are
// stubbed: nothing here installs packages or compiles.

const repo = new URL('../..', import.meta.url).pathname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-workerbuild-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const VERSION = '3.15.8';
const sandbox = path.join(tmp, 'clone');
const cache = path.join(tmp, 'cache');
const downloads = path.join(tmp, 'downloads');
const stubs = path.join(tmp, 'stubs');
const target = path.join(sandbox, 'node_modules/mediasoup/worker/out/Release/mediasoup-worker');
const prebuiltName = `mediasoup-worker-${VERSION}-${process.platform}-${process.arch}-kernel${os.release().split('.')[0]}.tgz`;

fs.cpSync(path.join(repo, 'scripts/mediasoup-worker'), path.join(sandbox, 'scripts/mediasoup-worker'), { recursive: true });
fs.cpSync(path.join(repo, 'scripts/lib'), path.join(sandbox, 'scripts/lib'), { recursive: true });
fs.mkdirSync(path.join(sandbox, 'node_modules/mediasoup'), { recursive: true });
fs.writeFileSync(path.join(sandbox, 'node_modules/mediasoup/package.json'), JSON.stringify({ name: 'mediasoup', version: VERSION }));
fs.mkdirSync(stubs);
fs.writeFileSync(path.join(stubs, 'apt-get'), '#!/bin/sh\necho "apt-get stub: $*" >&2\nexit 97\n', { mode: 0o755 });
fs.writeFileSync(path.join(stubs, 'dpkg-query'), "#!/bin/sh\nprintf 'install ok installed'\n", { mode: 0o755 });

/** A stand-in worker: passes build.sh's check (exit 41), and its content says what it is. */
const fakeWorker = (label: string) => `#!/bin/sh\n# ${label}\nexit 41\n`;
const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

function run(env: Record<string, string> = {}, args: string[] = []) {
  const r = spawnSync('bash', [path.join(sandbox, 'scripts/mediasoup-worker/build.sh'), ...args], {
    env: {
      ...process.env,
      FOURCAST_WORKER_FROM_SOURCE: '0',
      MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL: `file://${downloads}`,
      ...env,
      FOURCAST_CACHE_DIR: cache,
      PATH: `${stubs}:${process.env.PATH ?? ''}`,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const keys = Object.fromEntries(
  run({}, ['--keys'])
    .out.trim()
    .split('\n')
    .map((l) => l.split('\t') as [string, string, string])
    .map(([origin, key, dir]) => [origin, { key, dir }]),
) as Record<'prebuilt' | 'source', { key: string; dir: string }>;

function publishPrebuilt(content: string) {
  const staging = path.join(tmp, 'staging');
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging);
  fs.writeFileSync(path.join(staging, 'mediasoup-worker'), content, { mode: 0o755 });
  fs.mkdirSync(path.join(downloads, VERSION), { recursive: true });
  const tar = spawnSync('tar', ['-czf', path.join(downloads, VERSION, prebuiltName), '-C', staging, 'mediasoup-worker']);
  expect(tar.status).toBe(0);
}

/** A cache entry as a source build (or an older script) left it. */
function seedCache(dir: string, content: string, files: Record<string, string> = {}) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'mediasoup-worker'), content, { mode: 0o755 });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
}

const installed = () => ({
  content: fs.readFileSync(target, 'utf8'),
  record: JSON.parse(fs.readFileSync(`${target}.origin.json`, 'utf8')) as Record<string, string>,
});

beforeEach(() => {
  for (const d of [cache, downloads, path.dirname(target)]) fs.rmSync(d, { recursive: true, force: true });
});

describe('scripts/mediasoup-worker/build.sh: cache keyed by origin, origin recorded next to the binary', () => {
  it('names a prebuilt key after upstream’s file and keeps the source key the recipe key', () => {
    expect(keys.prebuilt.key).toBe(`prebuilt-${VERSION}-${process.platform}-${process.arch}-kernel${os.release().split('.')[0]}`);
    expect(keys.source.key).toMatch(new RegExp(`^${VERSION.replace(/\./g, '\\.')}-[\\w.-]+-${os.arch() === 'x64' ? 'x86_64' : '[\\w]+'}-nouring-[0-9a-f]{16}$`));
    expect(keys.prebuilt.dir).toBe(path.join(cache, 'mediasoup-worker', keys.prebuilt.key));
    expect(keys.source.dir).toBe(path.join(cache, 'mediasoup-worker', keys.source.key));
  });

  it('downloads the prebuilt, caches it under the prebuilt key and records its origin', async () => {
    const worker = fakeWorker('upstream prebuilt');
    publishPrebuilt(worker);
    const first = run();
    expect(first.status, first.out).toBe(0);
    expect(first.out).toContain('trying upstream prebuilt');
    const { content, record } = installed();
    expect(content).toBe(worker);
    expect(record).toMatchObject({ origin: 'prebuilt', mediasoupVersion: VERSION, cacheKey: keys.prebuilt.key, sha256: sha(worker), url: `file://${downloads}/${VERSION}/${prebuiltName}` });
    expect(fs.readFileSync(path.join(keys.prebuilt.dir, 'mediasoup-worker'), 'utf8')).toBe(worker);
    expect(JSON.parse(fs.readFileSync(path.join(keys.prebuilt.dir, 'mediasoup-worker.origin.json'), 'utf8'))).toMatchObject({ origin: 'prebuilt', sha256: sha(worker) });
    expect(fs.existsSync(keys.source.dir)).toBe(false);
    // What the server reports for it.
    expect(await describeWorkerBinary(target)).toEqual({ path: target, origin: 'prebuilt', mediasoupVersion: VERSION, sha256: sha(worker), cacheKey: keys.prebuilt.key });

    // Offline now: the cache answers, still as a prebuilt.
    fs.rmSync(downloads, { recursive: true });
    fs.rmSync(path.dirname(target), { recursive: true });
    const second = run();
    expect(second.status, second.out).toBe(0);
    expect(second.out).toContain('cache hit (prebuilt)');
    expect(second.out).not.toContain('trying upstream prebuilt');
    expect(installed().record).toMatchObject({ origin: 'prebuilt', cacheKey: keys.prebuilt.key });
  });

  it('prefers a cached prebuilt to a cached source build, unless FOURCAST_WORKER_FROM_SOURCE=1', () => {
    const pre = fakeWorker('prebuilt in cache');
    const src = fakeWorker('source build in cache');
    seedCache(keys.prebuilt.dir, pre);
    seedCache(keys.source.dir, src, { origin: 'source\n' }); // as the previous build.sh left it
    const normal = run();
    expect(normal.status, normal.out).toBe(0);
    expect(installed()).toMatchObject({ content: pre, record: { origin: 'prebuilt' } });

    const fromSource = run({ FOURCAST_WORKER_FROM_SOURCE: '1' });
    expect(fromSource.status, fromSource.out).toBe(0);
    expect(fromSource.out).toContain('cache hit (source build)');
    expect(installed()).toMatchObject({ content: src, record: { origin: 'source', cacheKey: keys.source.key, sha256: sha(src), mediasoupVersion: VERSION } });
    // The older entry got its record (MEDIASOUP_WORKER_BIN may point into the cache).
    expect(fs.existsSync(path.join(keys.source.dir, 'origin'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(keys.source.dir, 'mediasoup-worker.origin.json'), 'utf8'))).toMatchObject({ origin: 'source', cacheKey: keys.source.key, sha256: sha(src) });
  });

  it('with FOURCAST_WORKER_FROM_SOURCE=1 neither downloads nor uses a cached prebuilt', () => {
    publishPrebuilt(fakeWorker('upstream prebuilt'));
    seedCache(keys.prebuilt.dir, fakeWorker('prebuilt in cache'));
    // No source entry: it goes to the source build, which fails here (the stand-in mediasoup has no worker/ sources).
    const r = run({ FOURCAST_WORKER_FROM_SOURCE: '1' });
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('FOURCAST_WORKER_FROM_SOURCE=1: not using upstream');
    expect(r.out).not.toContain('trying upstream prebuilt');
    expect(r.out).not.toContain('cache hit');
    expect(r.out).toContain('[worker] FAILED: node_modules/mediasoup/worker has no sources to build');
    expect(fs.existsSync(target)).toBe(false);
  });

  it('skips a cache entry whose binary is not the one its record describes', () => {
    seedCache(keys.prebuilt.dir, fakeWorker('swapped after it was cached'), {
      'mediasoup-worker.origin.json': JSON.stringify({ origin: 'prebuilt', mediasoupVersion: VERSION, cacheKey: keys.prebuilt.key, sha256: sha('what was downloaded') }),
    });
    const worker = fakeWorker('upstream prebuilt, again');
    publishPrebuilt(worker);
    const r = run();
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`ignoring cache entry ${keys.prebuilt.dir}: the binary is not the one its record describes`);
    expect(installed()).toMatchObject({ content: worker, record: { origin: 'prebuilt', sha256: sha(worker) } });
  });

  it('does not take a prebuilt that an older build.sh cached under the source key for a source build', () => {
    seedCache(keys.source.dir, fakeWorker('old prebuilt under the source key'), { origin: 'prebuilt\n' });
    const r = run({ FOURCAST_WORKER_FROM_SOURCE: '1' });
    expect(r.out).toContain(`ignoring cache entry ${keys.source.dir}: it holds a prebuilt binary`);
    expect(r.out).toContain('has no sources to build'); // went on to the source build
    expect(r.status).not.toBe(0);
    expect(fs.existsSync(target)).toBe(false);
  });
});
