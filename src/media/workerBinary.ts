import crypto from 'node:crypto';
import fs from 'node:fs';
import * as mediasoup from 'mediasoup';

/**
 * Where the mediasoup-worker binary came from. `scripts/mediasoup-worker/build.sh` writes
 * `<binary>.origin.json` next to every binary it installs (and next to its cached copy):
 * `prebuilt` = upstream's prebuilt download, `source` = built here against Debian's
 * libraries. `unknown` = no such record, or one that describes another file (its sha256
 * does not match the binary), e.g. a binary put there by hand or by mediasoup's postinstall.
 */
export type WorkerOrigin = 'prebuilt' | 'source' | 'unknown';

export interface WorkerBinaryInfo {
  /** The binary mediasoup spawns (`mediasoup.workerBin`: MEDIASOUP_WORKER_BIN, else node_modules). */
  path: string;
  origin: WorkerOrigin;
  /** The mediasoup version the binary was obtained for; the installed package's version when the origin is unknown. */
  mediasoupVersion: string;
  /** sha256 of the binary as it is now; absent when it cannot be read. */
  sha256?: string;
  /** Cache entry it came from (`${FOURCAST_CACHE_DIR:-~/.cache/fourcast}/mediasoup-worker/<key>`). */
  cacheKey?: string;
}

/** The origin record build.sh writes (extra fields are allowed and ignored). */
interface OriginRecord {
  origin: 'prebuilt' | 'source';
  mediasoupVersion: string;
  sha256: string;
  cacheKey?: string;
}

export const originFileOf = (bin: string): string => `${bin}.origin.json`;

function readOrigin(file: string): OriginRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (r.origin !== 'prebuilt' && r.origin !== 'source') return undefined;
  if (typeof r.mediasoupVersion !== 'string' || typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) return undefined;
  return { origin: r.origin, mediasoupVersion: r.mediasoupVersion, sha256: r.sha256, ...(typeof r.cacheKey === 'string' ? { cacheKey: r.cacheKey } : {}) };
}

/** sha256 per file identity: hashed once (a 3–4 MB binary, a few ms), again only when the file changes. */
const hashes = new Map<string, { id: string; sha256: string }>();

async function sha256Of(file: string, st: fs.Stats): Promise<string> {
  const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = hashes.get(file);
  if (hit?.id === id) return hit.sha256;
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  hashes.set(file, { id, sha256 });
  return sha256;
}

/**
 * Describes the mediasoup-worker binary that `bin` names (by default the one mediasoup
 * runs): its origin record, checked against the binary's actual sha256.
 */
export async function describeWorkerBinary(bin: string = mediasoup.workerBin): Promise<WorkerBinaryInfo> {
  const unknown: WorkerBinaryInfo = { path: bin, origin: 'unknown', mediasoupVersion: mediasoup.version };
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(bin);
    if (!st.isFile()) return unknown;
  } catch {
    return unknown;
  }
  let sha256: string;
  try {
    sha256 = await sha256Of(bin, st);
  } catch {
    return unknown;
  }
  const record = readOrigin(originFileOf(bin));
  if (!record || record.sha256 !== sha256) return { ...unknown, sha256 };
  return { path: bin, origin: record.origin, mediasoupVersion: record.mediasoupVersion, sha256, ...(record.cacheKey ? { cacheKey: record.cacheKey } : {}) };
}

/** One line for logs and reports, e.g. `source build for mediasoup 3.15.8 (sha256 1a2b3c4d5e6f, cache 3.15.8-debian-12-…)`. */
export function formatWorkerBinary(info: WorkerBinaryInfo): string {
  const what = info.origin === 'prebuilt' ? 'upstream prebuilt' : info.origin === 'source' ? 'source build' : 'binary of unknown origin';
  const details = [info.sha256 ? `sha256 ${info.sha256.slice(0, 12)}` : 'unreadable', info.cacheKey ? `cache ${info.cacheKey}` : ''].filter(Boolean).join(', ');
  return `${what} for mediasoup ${info.mediasoupVersion} at ${info.path} (${details})`;
}
