import { describe, expect, it } from 'vitest';
import { primaryAddress, resolveMediaAddresses } from '../../src/media/addresses.js';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal, netmask: '', mac: '', cidr: null }) as never;

describe('resolveMediaAddresses', () => {
  const detect = (primary4?: string, primary6?: string, interfaces: Record<string, unknown[]> = {}) => ({
    primary: async (f: 4 | 6) => (f === 4 ? primary4 : primary6),
    interfaces: () => interfaces as never,
  });

  it('announces the configured address on the configured listen IP', async () => {
    const r = await resolveMediaAddresses('0.0.0.0', '203.0.113.7', detect('198.51.100.5'));
    expect(r).toEqual({ listen: [{ ip: '0.0.0.0', announcedAddress: '203.0.113.7' }], announced: ['203.0.113.7'], detected: false });
  });

  it('binds and announces a specific listen IP as it is', async () => {
    expect(await resolveMediaAddresses('127.0.0.1', undefined, detect('198.51.100.5'))).toEqual({ listen: [{ ip: '127.0.0.1' }], announced: ['127.0.0.1'], detected: false });
  });

  it('on 0.0.0.0 with nothing announced, binds the routed address and loopback, never the wildcard', async () => {
    const r = await resolveMediaAddresses('0.0.0.0', undefined, detect('203.0.113.20'));
    expect(r).toEqual({ listen: [{ ip: '203.0.113.20' }, { ip: '127.0.0.1' }], announced: ['203.0.113.20', '127.0.0.1'], detected: true });
  });

  it('without a default route, falls back to the first external interface (skipping loopback and link-local)', async () => {
    const r = await resolveMediaAddresses(
      '::',
      undefined,
      detect(undefined, undefined, { lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::1', 'IPv6'), iface('198.51.100.3', 'IPv4'), iface('2001:db8::5', 'IPv6')] }),
    );
    expect(r.announced).toEqual(['198.51.100.3', '2001:db8::5', '127.0.0.1', '::1']);
  });

  it('on a loopback-only host announces loopback alone', async () => {
    const r = await resolveMediaAddresses('0.0.0.0', undefined, detect(undefined, undefined, { lo: [iface('127.0.0.1', 'IPv4', true)] }));
    expect(r.listen).toEqual([{ ip: '127.0.0.1' }]);
  });

  it('reads the routed IPv4 address of this machine from the kernel', async () => {
    const a = await primaryAddress(4);
    // This machine may be offline (undefined); when it answers, it is a real, non-wildcard IPv4 address.
    if (a !== undefined) expect(a).toMatch(/^(?!0\.0\.0\.0)\d+\.\d+\.\d+\.\d+$/);
  });
});
