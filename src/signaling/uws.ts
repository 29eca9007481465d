import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

// The one place that loads uWebSockets.js. The rest of the code calls loadUws() and
// uses the types below, which are those of `import uWS from 'uWebSockets.js'`.
//
// uWebSockets.js is not on npm upstream; two republishes are pinned in package.json,
// under two aliases, because neither covers the machines Fourcast runs on alone:
//   uWebSockets.js-btc-vision  @btc-vision/uwebsockets.js 20.57.0: Node 20, 22, 24, 25
//                              (ABIs 115/127/137/141), Linux binaries need glibc >= 2.38.
//                              When its binary does not load it throws (no fallback).
//   uWebSockets.js             @trufflesuite/uws-js-unofficial 20.30.0-unofficial.0: Node 20
//                              (ABI 115; also 16/18), glibc >= 2.27. When its binary does not
//                              load it prints a warning and silently returns a slow pure-JS
//                              implementation (built on `ws`, no SSLApp); UWS_USE_FALLBACK=1
//                              forces that.
// The newer one is tried first. The types stay those of the older one: the newer API
// differs in details the code already handles (getQuery() may return undefined,
// closeOnBackpressureLimit is a boolean, no sendFragment()).

export type { TemplatedApp, WebSocket, HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js';
export type Uws = typeof UWS;

export interface UwsPackage {
  /** The dependency name in package.json, what `require()` takes. */
  readonly alias: string;
  /** The npm package behind the alias. */
  readonly name: string;
  /** The version pinned in package.json. */
  readonly version: string;
  /** Node.js lines it ships binaries for (that Fourcast supports). */
  readonly nodeMajors: readonly number[];
  /** Oldest glibc its Linux x64/arm64 binaries load on. */
  readonly glibc: string;
  /** It honours UWS_USE_FALLBACK (has a JS fallback at all). */
  readonly hasJsFallback: boolean;
}

/**
 * In the order they are tried. Keep in step with package.json and with UWS_BINARIES in
 * scripts/lib/runtime-check.mjs (setup's check before install; a test compares them).
 */
export const UWS_PACKAGES: readonly UwsPackage[] = [
  { alias: 'uWebSockets.js-btc-vision', name: '@btc-vision/uwebsockets.js', version: '20.57.0', nodeMajors: [20, 22, 24, 25], glibc: '2.38', hasJsFallback: false },
  { alias: 'uWebSockets.js', name: '@trufflesuite/uws-js-unofficial', version: '20.30.0-unofficial.0', nodeMajors: [20], glibc: '2.27', hasJsFallback: true },
];

/** What a candidate's loader returns; it throws when the package does not load. */
export interface LoadedUws {
  uws: Uws;
  /** Version from the package's package.json. */
  version: string;
  /** Absolute path of the native addon it loaded, null when none (the JS fallback). */
  binary: string | null;
  /** What the package printed while loading (captured, not shown). */
  output?: string[];
}

export interface UwsCandidate {
  readonly name: string;
  readonly alias: string;
  readonly version: string;
  readonly hasJsFallback: boolean;
  load(): LoadedUws;
}

export interface UwsAttempt {
  package: string;
  alias: string;
  version: string;
  outcome: 'native' | 'js-fallback' | 'failed' | 'skipped';
  /** Why it was not used. */
  reason?: string;
  binary?: string | null;
}

/** Which uWebSockets.js is in use: log it at start. */
export interface UwsInfo {
  package: string;
  alias: string;
  version: string;
  /** Absolute path of the native addon. */
  binary: string | null;
  /** Every package considered, in order, the one in use last. */
  attempts: UwsAttempt[];
  /** One line: the package, its binary file, and why earlier ones were not used. */
  summary: string;
}

/** Raised when no uWebSockets.js native binary loads (exit 69 in src/main.ts). */
export class UwsNativeMissingError extends Error {
  readonly attempts: UwsAttempt[];
  constructor(detail: string, attempts: UwsAttempt[] = []) {
    const tried = attempts.map((a) => `${a.package} ${a.version}: ${a.outcome}${a.reason ? ` (${a.reason})` : ''}`).join('; ');
    super(
      `uWebSockets.js native binary is not in use (${detail}). Fourcast refuses to run on the slow JS fallback.` +
        (tried ? ` Tried ${tried}.` : '') +
        ` ${describeRuntime()}` +
        ` Native binaries: ${UWS_PACKAGES.map((p) => `Node.js ${listText(p.nodeMajors.map(String))} with glibc >= ${p.glibc} (${p.name})`).join('; ')}.` +
        ` ${advice()}` +
        ` 'node scripts/lib/runtime-check.mjs' checks a machine before install.`,
    );
    this.name = 'UwsNativeMissingError';
    this.attempts = attempts;
  }
}

const listText = (items: string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);

/** truffle's own test of the variable (src/uws.js). */
export function fallbackForced(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['true', 'True', 'TRUE', '1'].includes(env.UWS_USE_FALLBACK ?? '');
}

function glibcVersion(): string | null {
  if (process.platform !== 'linux') return null;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}

const atLeast = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) if ((x![i] ?? 0) !== (y![i] ?? 0)) return (x![i] ?? 0) > (y![i] ?? 0);
  return true;
};

function describeRuntime(): string {
  const glibc = glibcVersion();
  return `This is Node.js ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}${process.platform === 'linux' ? `, ${glibc ? `glibc ${glibc}` : 'no glibc (musl?)'}` : ''}.`;
}

/**
 * What to do when no native binary loads, for this Node.js line, glibc (null: none or not
 * Linux) and platform. Exported for tests; the error uses the running process.
 */
export function uwsAdvice(rt: { major: number; glibc: string | null; platform: string; forced?: boolean }): string {
  if (rt.forced) return 'Unset UWS_USE_FALLBACK (it asks for the JS fallback).';
  if (rt.platform === 'linux' && rt.glibc === null) return 'Run it on a glibc Linux (Debian, Ubuntu), not musl/Alpine.';
  const works = UWS_PACKAGES.filter((p) => rt.platform !== 'linux' || atLeast(rt.glibc!, p.glibc));
  const majors = [...new Set(works.flatMap((p) => p.nodeMajors))].sort((a, b) => a - b);
  if (majors.includes(rt.major)) return `This combination should work: reinstall with 'npm ci' (a package or its binary may be missing).`;
  if (!majors.length) return 'Fix: move to a Linux with a newer glibc (see the binaries above).';
  const newest = UWS_PACKAGES[0]!;
  return (
    `Fix: use Node.js ${listText(majors.map(String))} on this machine` +
    (rt.glibc && !atLeast(rt.glibc, newest.glibc) ? `, or move to glibc >= ${newest.glibc} (Debian 13, Ubuntu 24.04) for Node.js ${listText(newest.nodeMajors.map(String))}` : '') +
    '.'
  );
}

function advice(): string {
  return uwsAdvice({ major: Number(process.versions.node.split('.')[0]), glibc: glibcVersion(), platform: process.platform, forced: fallbackForced() });
}

/** The package's own messages are noise (and not JSON): keep them for the reason instead. */
function capturingConsole<T>(fn: () => T): { value: T; output: string[] } {
  const output: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  const keep = (...args: unknown[]) => void output.push(args.map(String).join(' '));
  console.log = console.warn = console.error = keep;
  try {
    return { value: fn(), output };
  } finally {
    Object.assign(console, saved);
  }
}

/** The line of a loader's message that says what went wrong (the dlopen error, say). */
export function firstCause(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(This version of|Falling back|Require stack:|- )/.test(l));
  return (lines[0] ?? text.trim()).replace(/^Error: /, '');
}

function packageDir(entry: string): string {
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  }
  return path.dirname(entry);
}

/** The real thing: require() by alias, read the version, find the .node file in require's cache. */
export function packageCandidate(pkg: UwsPackage, req: NodeJS.Require = createRequire(import.meta.url)): UwsCandidate {
  return {
    name: pkg.name,
    alias: pkg.alias,
    version: pkg.version,
    hasJsFallback: pkg.hasJsFallback,
    load() {
      const dir = packageDir(req.resolve(pkg.alias));
      const version = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
      const { value, output } = capturingConsole(() => req(pkg.alias) as Uws);
      const binary =
        Object.keys(req.cache).find((f) => f.endsWith('.node') && f.startsWith(dir + path.sep) && !path.relative(dir, f).includes('node_modules')) ?? null;
      return { uws: value, version, binary, output };
    },
  };
}

const isNative = (uws: Uws) => typeof uws?.SSLApp === 'function' && typeof uws?.us_listen_socket_close === 'function';

/**
 * Tries the candidates in order and returns the first whose native addon loaded.
 * A loader that throws, or that hands back the JS fallback, is recorded with its reason
 * and the next one is tried. With `forceFallback` (UWS_USE_FALLBACK) a package without a
 * JS fallback is skipped, so the variable makes the guard fire on every machine.
 */
export function selectUws(candidates: readonly UwsCandidate[], opts: { forceFallback?: boolean } = {}): { uws: Uws; info: UwsInfo } {
  const attempts: UwsAttempt[] = [];
  for (const c of candidates) {
    const attempt: UwsAttempt = { package: c.name, alias: c.alias, version: c.version, outcome: 'failed' };
    attempts.push(attempt);
    if (opts.forceFallback && !c.hasJsFallback) {
      attempt.outcome = 'skipped';
      attempt.reason = 'UWS_USE_FALLBACK asks for the JS fallback, which this package does not have';
      continue;
    }
    let loaded: LoadedUws;
    try {
      loaded = c.load();
    } catch (err) {
      attempt.reason = firstCause(err instanceof Error ? err.message : String(err));
      continue;
    }
    attempt.version = loaded.version;
    attempt.binary = loaded.binary;
    if (!isNative(loaded.uws)) {
      const said = (loaded.output ?? []).join('\n');
      attempt.outcome = 'js-fallback';
      attempt.reason = /UWS_USE_FALLBACK/.test(said)
        ? 'UWS_USE_FALLBACK made it load its pure-JS fallback'
        : `its native binary did not load and it fell back to pure JS${said ? `: ${firstCause(said)}` : ''}`;
      continue;
    }
    attempt.outcome = 'native';
    const skipped = attempts.filter((a) => a !== attempt).map((a) => `; ${a.package} ${a.version} not used: ${a.reason ?? a.outcome}`);
    return {
      uws: loaded.uws,
      info: {
        package: c.name,
        alias: c.alias,
        version: loaded.version,
        binary: loaded.binary,
        attempts,
        summary: `${c.name} ${loaded.version} (${loaded.binary ? path.basename(loaded.binary) : 'native binary'})${skipped.join('')}`,
      },
    };
  }
  const fellBack = attempts.some((a) => a.outcome === 'js-fallback');
  throw new UwsNativeMissingError(fellBack ? 'the package fell back to its pure-JS implementation' : 'no package loaded its native addon', attempts);
}

let chosen: { uws: Uws; info: UwsInfo } | UwsNativeMissingError | undefined;

function choose(): { uws: Uws; info: UwsInfo } {
  if (chosen === undefined) {
    try {
      chosen = selectUws(
        UWS_PACKAGES.map((p) => packageCandidate(p)),
        { forceFallback: fallbackForced() },
      );
    } catch (err) {
      if (!(err instanceof UwsNativeMissingError)) throw err;
      chosen = err;
    }
  }
  if (chosen instanceof UwsNativeMissingError) throw chosen;
  return chosen;
}

/**
 * Loads uWebSockets.js, native only: the newer republish where its binary loads, the
 * older one elsewhere; throws UwsNativeMissingError (what works, what to do) when
 * neither loads natively. The choice is made once per process.
 */
export function loadUws(): Uws {
  return choose().uws;
}

/** Which package and native binary loadUws() uses (loading it if needed), and what was tried. */
export function uwsInfo(): UwsInfo {
  return choose().info;
}
