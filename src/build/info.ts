import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What `npm run build` produced and the sources it was built from. The build
 * writes `dist/build-info.json` (see `stamp.ts`); a node refuses to start on a
 * missing or stale build, because pages from an old or absent client bundle
 * fail in the browser, where nobody reads the server's log.
 */

export const BUILD_INFO = 'build-info.json';
/** Pages the server hands out; each must exist in the client build. */
export const CLIENT_PAGES = ['index.html', 'watch.html', 'broadcast.html'] as const;

/** Inputs of each half of the build; the lockfile pins mediasoup-client and the compilers. */
const INPUTS = {
  client: ['client', 'src/protocol', 'package-lock.json'],
  server: ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'],
} as const;

export interface BuildInfo {
  version: 1;
  builtAt: string;
  /** sha256 over the client's inputs, and over the server's. */
  client: string;
  server: string;
}

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

/** The repository (or image) root: the nearest folder above this file with Fourcast's package.json. */
export function projectRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'fourcast') return dir;
    } catch {
      // not here; go up
    }
    if (path.dirname(dir) === dir) throw new BuildError(`cannot find Fourcast's package.json above ${from}`);
  }
}

function listFiles(abs: string, out: string[]): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    return;
  }
  if (stat.isFile()) {
    out.push(abs);
    return;
  }
  for (const name of fs.readdirSync(abs)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    listFiles(path.join(abs, name), out);
  }
}

/** sha256 over the relative paths and contents of the given files and folders, in a stable order. */
export function sourceHash(root: string, inputs: readonly string[]): string {
  const files: string[] = [];
  for (const input of inputs) listFiles(path.join(root, input), files);
  const h = crypto.createHash('sha256');
  for (const file of [...new Set(files)].sort()) {
    h.update(path.relative(root, file).split(path.sep).join('/'));
    h.update('\0');
    h.update(fs.readFileSync(file));
    h.update('\0');
  }
  return h.digest('hex');
}

export function computeBuildInfo(root: string): BuildInfo {
  return { version: 1, builtAt: new Date().toISOString(), client: sourceHash(root, INPUTS.client), server: sourceHash(root, INPUTS.server) };
}

/**
 * Checks the build next to `root` and returns the folder of the built client.
 * Sources are compared only when they are present (a deployed image carries
 * `dist/` alone); the server half only when the server itself runs from `dist/`.
 */
export function checkBuild(root: string, opts: { serverFromDist: boolean }): { clientDir: string; info: BuildInfo } {
  const dist = path.join(root, 'dist');
  const clientDir = path.join(dist, 'client');
  const fix = "run 'npm run build' (or 'bash scripts/setup.sh', which builds)";
  const missing = CLIENT_PAGES.filter((p) => !fs.existsSync(path.join(clientDir, p)));
  if (missing.length) throw new BuildError(`the web client is not built: ${missing.map((p) => `dist/client/${p}`).join(', ')} missing. To fix it, ${fix}.`);
  let info: BuildInfo;
  try {
    info = JSON.parse(fs.readFileSync(path.join(dist, BUILD_INFO), 'utf8')) as BuildInfo;
  } catch {
    throw new BuildError(`dist/${BUILD_INFO} is missing or unreadable, so the build cannot be trusted. To fix it, ${fix}.`);
  }
  const stale: string[] = [];
  if (fs.existsSync(path.join(root, 'client')) && sourceHash(root, INPUTS.client) !== info.client) stale.push('client/ (the web pages)');
  if (opts.serverFromDist && fs.existsSync(path.join(root, 'src')) && sourceHash(root, INPUTS.server) !== info.server) stale.push('src/ (the server)');
  if (stale.length) throw new BuildError(`the build in dist/ (from ${info.builtAt}) is older than the sources of ${stale.join(' and ')}. To fix it, ${fix}.`);
  return { clientDir, info };
}
