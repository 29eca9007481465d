import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const SOURCE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'webrtcsink');

/**
 * Builds loadtest/media/webrtcsink (Go, pion/webrtc; modules from the Go module proxy) once
 * per source version into ~/.cache/fourcast, and returns the binary's path.
 */
export function buildWebrtcSink(): string {
  const hash = crypto.createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) hash.update(fs.readFileSync(path.join(SOURCE_DIR, f)));
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'fourcast');
  const bin = path.join(dir, `webrtcsink-${hash.digest('hex').slice(0, 16)}`);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const go = process.env.GO ?? (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go');
  const r = spawnSync(go, ['build', '-trimpath', '-o', tmp, '.'], { cwd: SOURCE_DIR, encoding: 'utf8', env: { ...process.env, CGO_ENABLED: '0' } });
  if (r.status !== 0) throw new Error(`cannot build the WebRTC sink (needs Go; scripts/setup.sh --test builds it): ${r.error?.message ?? r.stderr}`);
  fs.renameSync(tmp, bin);
  return bin;
}

export interface SinkStream {
  id: string;
  kind: string;
  ssrc: number;
  packets: number;
  bytes: number;
  /** Highest − first sequence number + 1. */
  expected: number;
  /** Skipped sequence numbers still missing after 1 s (NACK and RTX had their chance). */
  lost: number;
  /** Missing for less than 1 s. */
  pending: number;
  /** Skipped, then repaired (RTX) or late. */
  recovered: number;
  /** Media packets, each sequence number once (padding-only probes left out): what a decoder gets. */
  unique: number;
  duplicates: number;
  /** Padding-only packets (the sender probing bandwidth): no media. */
  padding: number;
}

export interface SinkStats {
  at: number;
  connected: number;
  streams: SinkStream[];
  /** mediasoup's bandwidth probation packets (its probator SSRC), all receivers together. */
  probation: number;
}

type Reply = { op: string; id?: string; sdp?: string; error?: string; state?: string } & Partial<SinkStats>;

/** Browser-shaped WebRTC receivers in one Go process: each answers an offer and counts what it receives. */
export class WebrtcSink {
  private readonly waiting = new Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private statsWaiters: ((s: SinkStats) => void)[] = [];
  readonly states = new Map<string, string>();
  private exited: Error | undefined;

  private constructor(readonly proc: ChildProcess) {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => this.onLine(line));
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    proc.once('exit', (code, signal) => {
      this.exited = new Error(`webrtcsink exited (${code ?? signal}): ${stderr}`);
      for (const w of this.waiting.values()) w.reject(this.exited);
      this.waiting.clear();
    });
  }

  /** `srtp`: the only SRTP profile the receivers offer (Chromium gets AEAD_AES_256_GCM from mediasoup). */
  static start(srtp: 'aead_aes_256_gcm' | 'aead_aes_128_gcm' | 'aes128_cm_hmac_sha1_80' = 'aead_aes_256_gcm'): WebrtcSink {
    return new WebrtcSink(spawn(buildWebrtcSink(), [`-srtp=${srtp}`], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private onLine(line: string): void {
    const msg = JSON.parse(line) as Reply;
    if (msg.op === 'stats') {
      const waiters = this.statsWaiters;
      this.statsWaiters = [];
      for (const w of waiters) w(msg as SinkStats);
      return;
    }
    if (msg.op === 'state' && msg.id) {
      this.states.set(msg.id, msg.state ?? '');
      return;
    }
    const w = msg.id === undefined ? undefined : this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id!);
    if (msg.op === 'error') w.reject(new Error(`webrtcsink ${msg.id}: ${msg.error}`));
    else w.resolve(msg);
  }

  private ask(cmd: Record<string, unknown> & { id: string }): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.set(cmd.id, { resolve, reject });
      this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    });
  }

  /** Answers `sdp` as receiver `id`; resolves with the answer SDP once ICE candidates are gathered. */
  async answer(id: string, sdp: string): Promise<string> {
    return (await this.ask({ op: 'offer', id, sdp })).sdp!;
  }

  async closePeer(id: string): Promise<void> {
    await this.ask({ op: 'close', id });
  }

  stats(): Promise<SinkStats> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve) => {
      this.statsWaiters.push(resolve);
      this.proc.stdin!.write('{"op":"stats"}\n');
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
}
