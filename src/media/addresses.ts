import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';

/** One address a WebRtcServer binds, and what it tells browsers (ICE candidates). */
export interface MediaListen {
  ip: string;
  /** Put in ICE candidates instead of `ip` (public address behind NAT). */
  announcedAddress?: string | undefined;
}

/** How the media addresses were chosen, for the start-up banner and the log. */
export interface MediaAddresses {
  listen: MediaListen[];
  /** Addresses browsers are told to send media to, in ICE priority order. */
  announced: string[];
  /** True when nothing was configured and the addresses were detected. */
  detected: boolean;
}

export const isUnspecified = (ip: string): boolean => ip === '0.0.0.0' || ip === '::' || ip === '0:0:0:0:0:0:0:0';

/**
 * The source address this host would use to reach the internet: a connected
 * UDP socket sends nothing, but the kernel picks the route and the address.
 * Undefined when there is no such route (an offline host).
 */
export async function primaryAddress(family: 4 | 6): Promise<string | undefined> {
  const target = family === 4 ? '192.0.2.1' : '2001:db8::1'; // documentation ranges: routed by default, never contacted
  const socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(9, target, () => resolve());
    });
    const { address } = socket.address();
    return isUnspecified(address) ? undefined : address;
  } catch {
    return undefined;
  } finally {
    socket.close();
  }
}

type Interfaces = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

/** First non-internal, non-link-local address of a family, for hosts without a default route. */
function firstExternal(interfaces: Interfaces, family: 4 | 6): string | undefined {
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (i.internal || i.family !== (family === 4 ? 'IPv4' : 'IPv6')) continue;
      if (family === 6 && /^fe80:/i.test(i.address)) continue;
      return i.address;
    }
  }
  return undefined;
}

/**
 * Decides what the WebRtcServers bind and announce:
 * - `RTC_ANNOUNCED_ADDRESS` set: bind `RTC_LISTEN_IP`, announce that address;
 * - a specific `RTC_LISTEN_IP`: bind and announce it;
 * - `0.0.0.0`/`::` with nothing announced: a wildcard socket would announce an
 *   address nobody can reach, so bind the host's primary address (what other
 *   machines on its network reach) and loopback (a browser on this machine),
 *   one socket each on the same port. mediasoup-demo asks for the address;
 *   LiveKit detects local interfaces: this follows LiveKit, limited to the
 *   routed address so docker bridges and VPN links are not advertised.
 */
export async function resolveMediaAddresses(
  listenIp: string,
  announcedAddress: string | undefined,
  detect: { primary: (family: 4 | 6) => Promise<string | undefined>; interfaces: () => Interfaces } = { primary: primaryAddress, interfaces: os.networkInterfaces },
): Promise<MediaAddresses> {
  if (announcedAddress) return { listen: [{ ip: listenIp, announcedAddress }], announced: [announcedAddress], detected: false };
  if (!isUnspecified(listenIp)) return { listen: [{ ip: listenIp }], announced: [listenIp], detected: false };
  const families: (4 | 6)[] = net.isIPv6(listenIp) ? [4, 6] : [4];
  const ips: string[] = [];
  for (const family of families) {
    const primary = (await detect.primary(family)) ?? firstExternal(detect.interfaces(), family);
    if (primary) ips.push(primary);
  }
  ips.push('127.0.0.1');
  if (families.includes(6)) ips.push('::1');
  const unique = [...new Set(ips)];
  return { listen: unique.map((ip) => ({ ip })), announced: unique, detected: true };
}
