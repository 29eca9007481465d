import { Signaling } from './signaling';

export interface Boot {
  room: string;
  token: string | null;
  name: string | null;
  params: URLSearchParams;
  signaling: Signaling;
  iceServers: RTCIceServer[];
  iceTransportPolicy: RTCIceTransportPolicy | undefined;
  /** The routers' capabilities, when the server publishes them: the device loads before the socket opens. */
  routerRtpCapabilities: unknown;
}

/** Reads the page's link (room, token, name), the server's client config and ICE servers. */
export async function boot(): Promise<Boot> {
  const params = new URLSearchParams(location.search);
  const room = params.get('room') ?? 'main-stage';
  const token = params.get('token');
  // Both at once: every round trip here delays the first frame.
  const [cfgRes, iceServers] = await Promise.all([
    fetch('/api/client-config'),
    // TURN/STUN credentials are short-lived: fetched fresh for every page. Without
    // them, direct (host candidate) connectivity still works.
    fetch('/api/turn')
      .then(async (r) => (r.ok ? ((await r.json()) as { iceServers: RTCIceServer[] }).iceServers : []))
      .catch(() => [] as RTCIceServer[]),
  ]);
  if (!cfgRes.ok) throw new Error(`server configuration unavailable (HTTP ${cfgRes.status})`);
  const cfg = (await cfgRes.json()) as { wsUrl: string; routerRtpCapabilities?: unknown; nodes?: { wsUrl: string }[] };
  const q = new URLSearchParams({ room });
  if (token) q.set('token', token);
  const signaling = new Signaling(`${cfg.wsUrl}?${q.toString()}`, async () => {
    const r = await fetch('/api/access', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, ...(token ? { token } : {}) }),
    });
    if (r.ok) return null;
    const body = (await r.json().catch(() => ({}))) as { error?: string; message?: string };
    return body.error ? { code: body.error, message: body.message ?? body.error } : null;
  });
  // Cluster mode: the other live nodes, to carry on from if this one goes away.
  signaling.setAlternates((cfg.nodes ?? []).map((n) => `${n.wsUrl}?${q.toString()}`));
  return {
    room,
    token,
    name: params.get('name'),
    params,
    signaling,
    iceServers,
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : undefined,
    routerRtpCapabilities: cfg.routerRtpCapabilities,
  };
}
