import dgram from 'node:dgram';
import fs from 'node:fs/promises';

/**
 * UDP ports on 127.0.0.1 for an encoder: each an RTP port whose next port
 * (its RTCP port) is free too. They are held by our own sockets until
 * `release()`, just before the encoder binds them; the gap is a spawn, and a
 * port taken meanwhile makes ffmpeg fail with "Address already in use", which
 * the encoder retries with fresh ports.
 */
export async function reservePortPairs(count: number): Promise<{ ports: number[]; release(): Promise<void> }> {
  const held: dgram.Socket[] = [];
  const ports: number[] = [];
  const release = () => Promise.all(held.splice(0).map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined);
  try {
    for (let attempts = 0; ports.length < count; attempts++) {
      if (attempts > 50) throw new Error(`no ${count} pairs of free UDP ports found on 127.0.0.1`);
      const rtp = await bind(0);
      const port = rtp.address().port;
      const rtcp = port < 65535 ? await bind(port + 1).catch(() => undefined) : undefined;
      held.push(rtp);
      if (!rtcp) continue; // held until release, so the next try gets another port
      held.push(rtcp);
      ports.push(port);
    }
    return { ports, release };
  } catch (err) {
    await release();
    throw err;
  }
}

function bind(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * Whether process `pid` has bound every one of `ports` on 127.0.0.1 (Linux:
 * /proc/net/udp gives the socket inode of each address, /proc/<pid>/fd the
 * sockets the process holds). Read-only: probing by binding the port would
 * race with the process we wait for.
 */
export async function portsBoundBy(pid: number, ports: readonly number[]): Promise<boolean> {
  const [table, fds] = await Promise.all([fs.readFile('/proc/net/udp', 'utf8'), fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[])]);
  const inodeByPort = new Map<number, string>();
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [ip, hexPort] = (cols[1] ?? '').split(':');
    if (ip !== '0100007F' || !hexPort || !cols[9]) continue;
    inodeByPort.set(parseInt(hexPort, 16), cols[9]);
  }
  if (!ports.every((p) => inodeByPort.has(p))) return false;
  const links = await Promise.all(fds.map((fd) => fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  const held = new Set(links.map((l) => /^socket:\[(\d+)\]$/.exec(l)?.[1]).filter((x) => x !== undefined));
  return ports.every((p) => held.has(inodeByPort.get(p)!));
}
