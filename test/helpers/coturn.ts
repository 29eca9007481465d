import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePortRange } from './ports.js';

// A real coturn (Debian's turnserver) on 127.0.0.1 in REST-secret mode, its
// UDP echo peer, and its test client. Nothing listens beyond loopback.

export interface Coturn {
  port: number;
  realm: string;
  /** coturn's log so far (auth failures are logged with the username). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export async function startCoturn(opts: { secret: string; realm?: string }): Promise<Coturn> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fourcast-coturn-'));
  const port = await freePortRange(1);
  const realm = opts.realm ?? 'fourcast.test';
  const logFile = path.join(dir, 'turn.log');
  const conf = [
    `listening-ip=127.0.0.1`,
    `relay-ip=127.0.0.1`,
    `listening-port=${port}`,
    `use-auth-secret`,
    `static-auth-secret=${opts.secret}`,
    `realm=${realm}`,
    `no-tls`,
    `no-dtls`,
    `no-cli`,
    `fingerprint`,
    // Peers on loopback are refused (403) without these two.
    `allow-loopback-peers`,
    `allowed-peer-ip=127.0.0.1`,
    `pidfile=${path.join(dir, 'turn.pid')}`,
    `log-file=${logFile}`,
    `simple-log`,
    `no-stdout-log`,
    // Otherwise coturn opens the system database in /var/lib/turn.
    `userdb=${path.join(dir, 'turndb')}`,
  ].join('\n');
  const confFile = path.join(dir, 'turnserver.conf');
  await fs.writeFile(confFile, conf + '\n');

  const proc = spawn('turnserver', ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const readLog = () => fs.readFile(logFile, 'utf8').catch(() => '');
  const stop = async () => {
    await stopProcess(proc);
    await fs.rm(dir, { recursive: true, force: true });
  };

  try {
    await waitUntil(() => stunBindingAnswered(port), 10_000, () => proc.exitCode !== null || proc.signalCode !== null);
  } catch (err) {
    const detail = `${(err as Error).message}\nstderr: ${stderr}\nlog: ${(await readLog()).slice(-2000)}`;
    await stop();
    throw new Error(`turnserver did not come up on 127.0.0.1:${port}: ${detail}`, { cause: err });
  }
  return { port, realm, log: readLog, stop };
}

/** turnutils_peer: the UDP echo peer the relayed test traffic goes to. */
export async function startTurnPeer(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePortRange(1);
  const proc = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  try {
    await waitUntil(() => udpEchoes(port), 10_000, () => proc.exitCode !== null || proc.signalCode !== null);
  } catch (err) {
    await stopProcess(proc);
    throw new Error(`turnutils_peer did not come up on 127.0.0.1:${port}: ${(err as Error).message}`, { cause: err });
  }
  return { port, stop: () => stopProcess(proc) };
}

export interface UclientResult {
  exitCode: number | null;
  output: string;
  /** Messages that came back from the peer through the relay. */
  received: number;
}

/** One client allocates on the TURN server, sends `messages` to the peer through the relay and reads the echoes. */
export function runUclient(opts: { host: string; port: number; peerPort: number; username: string; credential: string; messages?: number }): Promise<UclientResult> {
  const args = [
    '-L', '127.0.0.1',
    '-p', String(opts.port),
    '-e', '127.0.0.1',
    '-r', String(opts.peerPort),
    '-u', opts.username,
    '-w', opts.credential,
    '-n', String(opts.messages ?? 3),
    '-m', '1',
    '-c', // no RTCP companion allocation
    opts.host,
  ];
  return new Promise((resolve) => {
    execFile('turnutils_uclient', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const exitCode = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      // Progress lines repeat the counter; the last one is the total.
      const received = Number([...output.matchAll(/tot_recv_msgs=(\d+)/g)].at(-1)?.[1] ?? 0);
      resolve({ exitCode, output, received });
    });
  });
}

/** A STUN Binding request (RFC 5389) answered with a Binding success response. */
function stunBindingAnswered(port: number): Promise<boolean> {
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0); // Binding request
  req.writeUInt16BE(0, 2);
  req.writeUInt32BE(0x2112a442, 4); // magic cookie
  crypto.getRandomValues(req.subarray(8, 20));
  return udpExchange(port, req, (msg) => msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(req.subarray(8, 20)));
}

function udpEchoes(port: number): Promise<boolean> {
  const probe = Buffer.from(`probe-${Math.random()}`);
  return udpExchange(port, probe, (msg) => msg.equals(probe));
}

function udpExchange(port: number, payload: Buffer, accept: (msg: Buffer) => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 200);
    socket.on('message', (msg) => {
      if (accept(msg)) done(true);
    });
    socket.on('error', () => done(false));
    socket.bind(0, '127.0.0.1', () => socket.send(payload, port, '127.0.0.1'));
  });
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, exited: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (exited()) throw new Error('process exited');
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

function stopProcess(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
