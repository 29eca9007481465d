import { Signaling } from './signaling';

export interface Boot {
  room: string;
  token: string | null;
  name: string | null;
  params: URLSearchParams;
  signaling: Signaling;
  iceServers: RTCIceServer[];
  iceTransportPolicy: RTCIceTransportPolicy | undefined;
}

/** Reads the page's link (room, token, name), the server's client config and ICE servers. */
export async function boot(): Promise<Boot> {
  const params = new URLSearchParams(location.search);
  const room = params.get('room') ?? 'main-stage';
  const token = params.get('token');
  const cfgRes = await fetch('/api/client-config');
  if (!cfgRes.ok) throw new Error(`server configuration unavailable (HTTP ${cfgRes.status})`);
  const cfg = (await cfgRes.json()) as { wsUrl: string };
  // TURN/STUN credentials are short-lived: fetched fresh for every page.
  let iceServers: RTCIceServer[] = [];
  try {
    const turn = await fetch('/api/turn');
    if (turn.ok) iceServers = ((await turn.json()) as { iceServers: RTCIceServer[] }).iceServers;
  } catch {
    // Direct (host candidate) connectivity still works without them.
  }
  const q = new URLSearchParams({ room });
  if (token) q.set('token', token);
  return {
    room,
    token,
    name: params.get('name'),
    params,
    signaling: new Signaling(`${cfg.wsUrl}?${q.toString()}`),
    iceServers,
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : undefined,
  };
}
