/** The providers, in the order TurnService tries them. */
export type TurnProviderName = 'twilio' | 'coturn' | 'stun';

/** What happened to one attempt; feeds `fourcast_turn_requests_total{provider,outcome}`. */
export type TurnOutcome = 'ok' | 'error' | 'timeout' | 'cached';

/**
 * An RTCIceServer as browsers take it. `urls` is always an array here so
 * clients (and the response schema) deal with one shape.
 */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface TurnCredentials {
  iceServers: IceServer[];
  /** Seconds the credentials stay valid from now. */
  ttl: number;
  provider: TurnProviderName;
}
