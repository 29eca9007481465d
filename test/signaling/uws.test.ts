import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  loadUws,
  packageCandidate,
  selectUws,
  uwsInfo,
  UWS_PACKAGES,
  UwsNativeMissingError,
  uwsAdvice,
  type Uws,
  type UwsCandidate,
} from '../../src/signaling/uws.js';

const root = new URL('../..', import.meta.url).pathname;
const binaryName = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
const glibcAtLeast = (v: string) => !!glibc && glibc.split('.').map(Number)[1]! >= v.split('.').map(Number)[1]!;
const nodeMajor = Number(process.versions.node.split('.')[0]);
const [BTC, TRUFFLE] = UWS_PACKAGES as [(typeof UWS_PACKAGES)[number], (typeof UWS_PACKAGES)[number]];

afterEach(() => vi.restoreAllMocks());

describe('loadUws on this machine', () => {
  it('loads a native binary (App and SSLApp), once per process', () => {
    const uws = loadUws();
    expect(typeof uws.App).toBe('function');
    expect(typeof uws.SSLApp).toBe('function');
    expect(loadUws()).toBe(uws);
    expect(uwsInfo()).toBe(uwsInfo());
  });

  // The machine this project is developed on: Debian 12 (glibc 2.36), Node 20.
  it.runIf(process.platform === 'linux' && nodeMajor === 20 && !glibcAtLeast(BTC.glibc))(
    'Node 20 on glibc < 2.38: tried btc-vision first, it failed on GLIBC_2.38, the trufflesuite native binary is in use',
    () => {
      const info = uwsInfo();
      expect(info).toMatchObject({ package: TRUFFLE.name, alias: 'uWebSockets.js', version: '20.30.0-unofficial.0' });
      expect(info.binary).toBe(path.join(root, 'node_modules/uWebSockets.js/binaries', binaryName));
      expect(info.attempts).toHaveLength(2);
      expect(info.attempts[0]).toMatchObject({ package: BTC.name, alias: 'uWebSockets.js-btc-vision', version: '20.57.0', outcome: 'failed' });
      expect(info.attempts[0]!.reason).toMatch(
        new RegExp(`version .GLIBC_2\\.38' not found \\(required by ${root}node_modules/uWebSockets\\.js-btc-vision/${binaryName.replace(/\./g, '\\.')}\\)`),
      );
      expect(info.attempts[1]).toMatchObject({ package: TRUFFLE.name, outcome: 'native', binary: info.binary });
      expect(info.summary).toBe(`${TRUFFLE.name} 20.30.0-unofficial.0 (${binaryName}); ${BTC.name} 20.57.0 not used: ${info.attempts[0]!.reason}`);
    },
  );

  // Skipped (reported as skipped) on glibc < 2.38, e.g. Debian 12 where CI runs: the btc-vision
  // binary cannot load there, so only a Debian 13 / Ubuntu 24.04 machine can run this case.
  it.runIf(process.platform !== 'linux' || glibcAtLeast(BTC.glibc))('glibc >= 2.38 (or not Linux): the btc-vision native binary is in use', () => {
    const info = uwsInfo();
    expect(info).toMatchObject({ package: BTC.name, version: '20.57.0' });
    expect(info.binary).toBe(path.join(root, 'node_modules/uWebSockets.js-btc-vision', binaryName));
    expect(info.attempts.map((a) => a.outcome)).toEqual(['native']);
  });
});

// A stand-in module: the native one has SSLApp, the pure-JS fallback does not.
const nativeUws = { App: () => ({}), SSLApp: () => ({}), us_listen_socket_close: () => undefined } as unknown as Uws;
const jsFallback = { App: () => ({}) } as unknown as Uws;
const candidate = (name: string, load: UwsCandidate['load'], hasJsFallback = false): UwsCandidate => ({
  name,
  alias: `alias-${name}`,
  version: '1.0.0',
  hasJsFallback,
  load: vi.fn(load),
});

describe('selectUws (injected loaders)', () => {
  const throwing = () =>
    candidate('throws', () => {
      throw new Error(
        'This version of uWS.js (v20.57.0) supports only Node.js versions 20, 22, 24 and 25 on (glibc) Linux, macOS and Windows.\n\n' +
          "Error: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by /x/uws_linux_x64_115.node)",
      );
    });
  const fallback = () =>
    candidate(
      'fallback',
      () => ({
        uws: jsFallback,
        version: '2.0.0',
        binary: null,
        output: [
          'This version of µWS is not compatible with your Node.js build:\n\nError: /x/binaries/uws_linux_x64_127.node: cannot open shared object file: No such file or directory',
          'Falling back to a NodeJS implementation; performance may be degraded.\n\n',
        ],
      }),
      true,
    );
  const native = () => candidate('native', () => ({ uws: nativeUws, version: '3.0.0', binary: '/x/native/uws_linux_x64_115.node' }));

  it('skips a loader that throws, with the cause as the reason, and takes the next native one', () => {
    const [a, b] = [throwing(), native()];
    const { uws, info } = selectUws([a, b]);
    expect(uws).toBe(nativeUws);
    expect(info).toMatchObject({ package: 'native', alias: 'alias-native', version: '3.0.0', binary: '/x/native/uws_linux_x64_115.node' });
    expect(info.attempts).toEqual([
      {
        package: 'throws',
        alias: 'alias-throws',
        version: '1.0.0',
        outcome: 'failed',
        reason: "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by /x/uws_linux_x64_115.node)",
      },
      { package: 'native', alias: 'alias-native', version: '3.0.0', outcome: 'native', binary: '/x/native/uws_linux_x64_115.node' },
    ]);
    expect(info.summary).toMatch(/^native 3\.0\.0 \(uws_linux_x64_115\.node\); throws 1\.0\.0 not used: .*GLIBC_2\.38' not found/);
  });

  it('skips a loader that silently returns the JS fallback, saying why, and takes the next native one', () => {
    const { uws, info } = selectUws([fallback(), native()]);
    expect(uws).toBe(nativeUws);
    expect(info.attempts[0]).toEqual({
      package: 'fallback',
      alias: 'alias-fallback',
      version: '2.0.0',
      outcome: 'js-fallback',
      binary: null,
      reason: 'its native binary did not load and it fell back to pure JS: /x/binaries/uws_linux_x64_127.node: cannot open shared object file: No such file or directory',
    });
  });

  it('takes the first native one and never loads the rest', () => {
    const [a, b, c] = [native(), throwing(), fallback()];
    expect(selectUws([a, b, c]).info.attempts.map((x) => x.package)).toEqual(['native']);
    expect(b.load).not.toHaveBeenCalled();
    expect(c.load).not.toHaveBeenCalled();
  });

  it('treats a module with SSLApp but without the µSockets functions as a fallback', () => {
    const half = candidate('half', () => ({ uws: { App: () => ({}), SSLApp: () => ({}) } as unknown as Uws, version: '1', binary: null }));
    expect(() => selectUws([half])).toThrow(UwsNativeMissingError);
  });

  it('throws UwsNativeMissingError naming every package, its reason, and what works', () => {
    let err: unknown;
    try {
      selectUws([throwing(), fallback()]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UwsNativeMissingError);
    const e = err as UwsNativeMissingError;
    expect(e.attempts.map((a) => [a.package, a.outcome])).toEqual([
      ['throws', 'failed'],
      ['fallback', 'js-fallback'],
    ]);
    expect(e.message).toMatch(/^uWebSockets\.js native binary is not in use \(the package fell back to its pure-JS implementation\)\. Fourcast refuses to run on the slow JS fallback\./);
    expect(e.message).toContain("Tried throws 1.0.0: failed (/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found");
    expect(e.message).toContain('fallback 2.0.0: js-fallback (its native binary did not load');
    expect(e.message).toContain(`This is Node.js ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`);
    expect(e.message).toContain(
      `Native binaries: Node.js 20, 22, 24 or 25 with glibc >= 2.38 (${BTC.name}); Node.js 20 with glibc >= 2.27 (${TRUFFLE.name}).`,
    );
    expect(e.message).toContain("'node scripts/lib/runtime-check.mjs' checks a machine before install.");
  });

  it('with UWS_USE_FALLBACK skips packages that have no JS fallback, so the guard fires everywhere', () => {
    const [a, b] = [native(), fallback()];
    expect(() => selectUws([a, b], { forceFallback: true })).toThrow(UwsNativeMissingError);
    expect(a.load).not.toHaveBeenCalled();
    expect(b.load).toHaveBeenCalledOnce();
  });
});

describe('uwsAdvice (what the exit-69 message tells to do)', () => {
  it('on glibc 2.36 with Node 22: Node 20 here, or glibc >= 2.38 for 22/24', () => {
    expect(uwsAdvice({ major: 22, glibc: '2.36', platform: 'linux' })).toBe(
      'Fix: use Node.js 20 on this machine, or move to glibc >= 2.38 (Debian 13, Ubuntu 24.04) for Node.js 20, 22, 24 or 25.',
    );
  });
  it('with Node 26: the lines that have binaries', () => {
    expect(uwsAdvice({ major: 26, glibc: '2.41', platform: 'linux' })).toBe('Fix: use Node.js 20, 22, 24 or 25 on this machine.');
    expect(uwsAdvice({ major: 18, glibc: null, platform: 'darwin' })).toBe('Fix: use Node.js 20, 22, 24 or 25 on this machine.');
  });
  it('a combination that should work: reinstall; too old a glibc: move; musl; UWS_USE_FALLBACK', () => {
    expect(uwsAdvice({ major: 20, glibc: '2.36', platform: 'linux' })).toMatch(/should work: reinstall with 'npm ci'/);
    expect(uwsAdvice({ major: 24, glibc: '2.39', platform: 'linux' })).toMatch(/should work/);
    expect(uwsAdvice({ major: 20, glibc: '2.26', platform: 'linux' })).toMatch(/move to a Linux with a newer glibc/);
    expect(uwsAdvice({ major: 20, glibc: null, platform: 'linux' })).toMatch(/glibc Linux .*not musl/);
    expect(uwsAdvice({ major: 20, glibc: '2.36', platform: 'linux', forced: true })).toMatch(/^Unset UWS_USE_FALLBACK/);
  });
});

describe('packageCandidate (real packages in a scratch node_modules)', () => {
  // What a machine whose Node/glibc fits neither package sees, without UWS_USE_FALLBACK:
  // btc-vision with no binary for this ABI (it throws), trufflesuite whose binary does not
  // load (it prints a warning and returns its JS fallback).
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-uws-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const nm = path.join(tmp, 'node_modules');
  const btc = path.join(nm, BTC.alias);
  fs.mkdirSync(btc, { recursive: true });
  for (const f of ['package.json', 'uws.js']) fs.copyFileSync(path.join(root, 'node_modules', BTC.alias, f), path.join(btc, f));
  const truffle = path.join(nm, TRUFFLE.alias);
  for (const f of ['package.json', 'src', 'dist', 'node_modules']) {
    fs.cpSync(path.join(root, 'node_modules', TRUFFLE.alias, f), path.join(truffle, f), { recursive: true, filter: (src) => !src.endsWith('.node') });
  }
  fs.mkdirSync(path.join(truffle, 'binaries'));
  fs.writeFileSync(path.join(truffle, 'binaries', binaryName), 'not an ELF file\n');
  const req = createRequire(path.join(tmp, 'index.js'));

  it('reports btc-vision throwing, trufflesuite silently falling back, and prints nothing', () => {
    const spies = (['log', 'warn', 'error'] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => undefined));
    let err: unknown;
    try {
      selectUws(UWS_PACKAGES.map((p) => packageCandidate(p, req)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UwsNativeMissingError);
    const [a, b] = (err as UwsNativeMissingError).attempts;
    expect(a).toMatchObject({ package: BTC.name, version: '20.57.0', outcome: 'failed', reason: `Cannot find module './${binaryName}'` });
    expect(b).toMatchObject({ package: TRUFFLE.name, version: '20.30.0-unofficial.0', outcome: 'js-fallback', binary: null });
    expect(b!.reason).toMatch(new RegExp(`^its native binary did not load and it fell back to pure JS: ${truffle}/binaries/${binaryName.replace(/\./g, '\\.')}: (invalid ELF header|file too short)`));
    // The package's own warning was captured into the reason, not printed.
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });

  it('reports a missing alias as not found', () => {
    const fresh = createRequire(path.join(os.tmpdir(), 'nowhere', 'index.js'));
    expect(() => selectUws([packageCandidate(BTC, fresh)])).toThrow(/Cannot find module 'uWebSockets\.js-btc-vision'/);
  });
});

describe('UWS_USE_FALLBACK=1 in a fresh process', () => {
  it('fails with both packages accounted for, and nothing from the package on stdout', () => {
    const code = `
      const { loadUws } = await import(${JSON.stringify(path.join(root, 'src/signaling/uws.ts'))});
      try { loadUws(); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ name: e.name, attempts: e.attempts })); }
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: root,
      env: { ...process.env, UWS_USE_FALLBACK: '1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'UwsNativeMissingError',
      attempts: [
        {
          package: BTC.name,
          alias: BTC.alias,
          version: '20.57.0',
          outcome: 'skipped',
          reason: 'UWS_USE_FALLBACK asks for the JS fallback, which this package does not have',
        },
        {
          package: TRUFFLE.name,
          alias: TRUFFLE.alias,
          version: '20.30.0-unofficial.0',
          outcome: 'js-fallback',
          binary: null,
          reason: 'UWS_USE_FALLBACK made it load its pure-JS fallback',
        },
      ],
    });
  });
});
