import { z } from 'zod';

/**
 * The Fourcast wire protocol: one module, imported by the server (which
 * validates every inbound frame with it) and by the browser client.
 *
 *   client → server  { type: 'request', id, method, data }
 *   server → client  { type: 'response', id, ok: true, data }
 *                    { type: 'response', id, ok: false, error: { code, message } }
 *                    { type: 'notification', method, data }
 *
 * mediasoup's own objects (RTP capabilities/parameters, DTLS parameters) are
 * checked for shape and size here; mediasoup validates their content and a
 * failure comes back as a `bad-request` error.
 */

export const PROTOCOL_VERSION = 1;

export const errorCodes = [
  'bad-request', // malformed JSON, unknown shape, invalid field
  'unknown-method',
  'not-joined', // a media/chat request before `join`
  'already-joined',
  'forbidden', // the peer's role does not allow it
  'stage-full', // all four publisher slots are taken
  'not-found', // transport/producer/consumer id unknown to this peer
  'invalid-state',
  'rate-limited',
  'too-large',
  'media-unavailable', // a worker is being replaced; retry shortly
  'draining', // the node is shutting down
  'server-busy', // every media worker has spent its packet budget, is past its CPU headroom or is not answering; retry in a minute
  'in-use', // this broadcaster link is already connected (another tab); join with takeOver to move it here
  'unavailable', // a cluster service (the shared chat in Redis) does not answer; retry shortly
  'busy', // the person called (or the caller) is already in a call
  'internal',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export const MAX_PUBLISHERS = 4;

const id = z.string().min(1).max(64);
export const displayName = z
  .string()
  .transform((s) => s.normalize('NFC').replace(/[\p{Cc}\p{Cf}]/gu, '').trim())
  .pipe(z.string().min(1, 'name is empty').max(32, 'name is longer than 32 characters'));
export { RESERVED_NAME_WORDS, isReservedName } from './names.js';

export const roomName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'room must be 1-64 letters, digits, _ or -');

const kind = z.enum(['audio', 'video']);
export const mediaSource = z.enum(['camera', 'mic']);
export type MediaSource = z.infer<typeof mediaSource>;

const rtpCodecCapability = z.looseObject({ kind, mimeType: z.string().max(64), clockRate: z.number().int().positive() });
const headerExtension = z.looseObject({ uri: z.string().max(256), id: z.number().int().optional(), preferredId: z.number().int().optional() });
const rtpCapabilities = z.looseObject({
  codecs: z.array(rtpCodecCapability).max(64).optional(),
  headerExtensions: z.array(headerExtension).max(64).optional(),
});
const rtpParameters = z.looseObject({
  mid: z.string().max(32).optional(),
  codecs: z.array(z.looseObject({ mimeType: z.string().max(64), payloadType: z.number().int().min(0).max(127), clockRate: z.number().int().positive() })).min(1).max(16),
  headerExtensions: z.array(headerExtension).max(32).optional(),
  encodings: z.array(z.looseObject({})).max(8).optional(),
  rtcp: z.looseObject({}).optional(),
});
const dtlsParameters = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z.array(z.object({ algorithm: z.string().max(16), value: z.string().max(200) })).min(1).max(8),
});
const layer = z.number().int().min(0).max(2);

/** Request payloads, by method. */
export const requestSchemas = {
  /** First message on a connection. The room and role come from the upgrade (token or query). */
  join: z.object({
    name: displayName.optional(),
    protocol: z.literal(PROTOCOL_VERSION).optional(),
    /** Last chat sequence number this client saw (reconnection): only later events are sent. */
    chatSince: z.number().int().min(0).optional(),
    /** The chat log `epoch` that `chatSince` belongs to: a different epoch (server restarted) means a fresh log. */
    chatEpoch: z.string().min(1).max(64).optional(),
    /**
     * A token holds one connection per room. Without this, a second connection
     * with the same token is refused (`in-use`); with it, the older one is
     * closed (`closing` code `replaced`) and this one takes its place.
     */
    takeOver: z.boolean().optional(),
    /** The device's capabilities when already known (saves the setRtpCapabilities round trip). */
    rtpCapabilities: rtpCapabilities.optional(),
  }),
  /** The client's device capabilities; needed before `consume`. */
  setRtpCapabilities: z.object({ rtpCapabilities }),
  createTransport: z.object({ direction: z.enum(['send', 'recv']) }),
  connectTransport: z.object({ transportId: id, dtlsParameters }),
  restartIce: z.object({ transportId: id }),
  produce: z.object({ transportId: id, kind, rtpParameters, source: mediaSource }),
  closeProducer: z.object({ producerId: id }),
  pauseProducer: z.object({ producerId: id }),
  resumeProducer: z.object({ producerId: id }),
  consume: z.object({ producerId: id }),
  resumeConsumer: z.object({ consumerId: id }),
  pauseConsumer: z.object({ consumerId: id }),
  /** Upper bound for simulcast layers (tile size); bandwidth estimation adapts below it. */
  setPreferredLayers: z.object({ consumerId: id, spatialLayer: layer, temporalLayer: layer.optional() }),
  requestKeyFrame: z.object({ consumerId: id }),
  /** Client-measured join → first decoded frame, for the latency histogram. */
  reportFirstFrame: z.object({ milliseconds: z.number().min(0).max(600_000) }),
  leave: z.object({}),
  /** Raw text; the server normalises it and enforces CHAT_MAX_LENGTH after normalising. */
  chatSend: z.object({ text: z.string().max(4000) }),
  /** Catch up after a gap without re-joining. */
  chatSync: z.object({ since: z.number().int().min(0).optional(), epoch: z.string().min(1).max(64).optional() }),
  chatDelete: z.object({ messageId: id }),
  chatClear: z.object({}),
  kick: z.object({ peerId: id, reason: z.string().max(200).optional() }),
  ban: z.object({ peerId: id, reason: z.string().max(200).optional() }),
  /** Broadcasters and admins: a publisher token for a guest in this room (default 4 hours). */
  mintGuestLink: z.object({ name: displayName, ttlSeconds: z.number().int().min(60).max(86_400).optional() }),

  // ---- joining the stage with consent (rooms/invitations.ts) ----
  /** A viewer asks to go on stage; the room's hosts are told (`handRaised`). */
  raiseHand: z.object({}),
  lowerHand: z.object({}),
  /** Broadcasters and admins: invite a viewer onto the stage, with the microphone (and the camera when `video`). */
  inviteToStage: z.object({ peerId: id, video: z.boolean().optional() }),
  withdrawInvitation: z.object({ invitationId: id }),
  /**
   * The invited viewer says yes or no. Yes reserves a stage slot at once (`stage-full` when
   * none is left; the invitation stays open): the page asks for the microphone only now, then
   * produces on this same connection before `publishBy`.
   */
  answerInvitation: z.object({ invitationId: id, accept: z.boolean() }),
  /** Broadcasters and admins: a guest goes back to the audience (its producers close, its slot frees). A guest may send itself. */
  sendToAudience: z.object({ peerId: id }),

  // ---- private calls (calls/) ----
  /** Calls another participant of the room (`busy` when either is in a call). */
  callStart: z.object({ peerId: id, video: z.boolean().optional() }),
  callAnswer: z.object({ callId: id, accept: z.boolean() }),
  callHangup: z.object({ callId: id }),
  /** The call's media: its own router, reached only through these (the room's methods never see it). */
  callCreateTransport: z.object({ callId: id, direction: z.enum(['send', 'recv']) }),
  callConnectTransport: z.object({ callId: id, transportId: id, dtlsParameters }),
  callRestartIce: z.object({ callId: id, transportId: id }),
  callProduce: z.object({ callId: id, transportId: id, kind, rtpParameters }),
  callConsume: z.object({ callId: id, producerId: id }),
  callResumeConsumer: z.object({ callId: id, consumerId: id }),
} as const;

export type Method = keyof typeof requestSchemas;
export type RequestData<M extends Method> = z.input<(typeof requestSchemas)[M]>;
export type ParsedRequestData<M extends Method> = z.output<(typeof requestSchemas)[M]>;

const methodNames = Object.keys(requestSchemas) as Method[];

/** Envelope check first, so a bad payload can still be answered with its id. */
export const requestEnvelope = z.object({
  type: z.literal('request'),
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  method: z.string().max(64),
  data: z.unknown().optional(),
});

export type ParsedRequest = { [M in Method]: { id: number; method: M; data: ParsedRequestData<M> } }[Method];

export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly requestId: number | null = null,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Parses one inbound frame; throws ProtocolError with the request id when known. */
export function parseRequest(raw: unknown): ParsedRequest {
  const env = requestEnvelope.safeParse(raw);
  if (!env.success) throw new ProtocolError('bad-request', `not a request: ${summarise(env.error)}`);
  const { id: reqId, method, data } = env.data;
  if (!methodNames.includes(method as Method)) throw new ProtocolError('unknown-method', `unknown method "${method}"`, reqId);
  const schema = requestSchemas[method as Method];
  const parsed = schema.safeParse(data ?? {});
  if (!parsed.success) throw new ProtocolError('bad-request', `invalid ${method}: ${summarise(parsed.error)}`, reqId);
  return { id: reqId, method, data: parsed.data } as ParsedRequest;
}

function summarise(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

// ---- server → client -------------------------------------------------------

/** What an access token lets its holder do in a room (auth/tokens.ts signs it). */
export const roles = ['publisher', 'viewer', 'admin'] as const;
export type Role = (typeof roles)[number];

export interface ProducerInfo {
  producerId: string;
  peerId: string;
  kind: 'audio' | 'video';
  source: MediaSource;
  paused: boolean;
}

export interface ChatMessage {
  id: string;
  seq: number;
  /** Server time, ms since the epoch. */
  ts: number;
  peerId: string;
  name: string;
  role: Role;
  text: string;
}

export type ChatEvent =
  | { type: 'message'; seq: number; message: ChatMessage }
  | { type: 'delete'; seq: number; id: string }
  | { type: 'clear'; seq: number };

/** Chat state for a (re)joining client: replace everything with `snapshot` when set, then apply `events`. */
export interface ChatSync {
  snapshot: ChatMessage[] | null;
  events: ChatEvent[];
  /** Events were missed and could not be replayed: the snapshot replaces the client's list. */
  gap: boolean;
  lastSeq: number;
  /** Identifies this log: a new one (server restarted) starts again at sequence 0 with another epoch. */
  epoch: string;
}

export interface ParticipantInfo {
  peerId: string;
  name: string;
  role: Role;
  onStage: boolean;
  /** A viewer who raised a hand to go on stage. */
  handRaised?: boolean;
  /** In a private call (busy). */
  inCall?: boolean;
}

/** Where an invitation to the stage stands. */
export const invitationStates = ['pending', 'accepted', 'declined', 'withdrawn', 'expired', 'left'] as const;
export type InvitationState = (typeof invitationStates)[number];

export interface InvitationInfo {
  invitationId: string;
  /** The viewer invited. */
  peerId: string;
  name: string;
  from: { peerId: string; name: string };
  /** The camera too, not only the microphone. */
  video: boolean;
  state: InvitationState;
  /** Server time (ms since the epoch) the invitation lapses while pending. */
  expiresAt: number;
  /** Why the last accept was refused (the stage was full), while it stays pending. */
  refused?: string;
}

/** Why a call ended, as both sides are told. */
export const callEndReasons = ['declined', 'hung-up', 'no-answer', 'disconnected', 'ended-by-admin', 'media-failed'] as const;
export type CallEndReason = (typeof callEndReasons)[number];

export interface PublisherInfo {
  peerId: string;
  name: string;
  producers: ProducerInfo[];
  /** A viewer invited onto the stage (not a host). */
  guest?: boolean;
}

export interface TransportInfo {
  transportId: string;
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
}

export interface ConsumerInfo {
  consumerId: string;
  producerId: string;
  peerId: string;
  kind: 'audio' | 'video';
  rtpParameters: unknown;
  type: string;
  producerPaused: boolean;
}

/** Whether the room's stage is being recorded, and since when (server time, ms since the epoch). */
export interface RecordingNotice {
  active: boolean;
  since: number | null;
}

/** Response payloads, by method. */
export interface ResponseData {
  join: {
    peerId: string;
    room: string;
    role: Role;
    name: string;
    canPublish: boolean;
    routerRtpCapabilities: unknown;
    publishers: PublisherInfo[];
    viewerCount: number;
    maxPublishers: number;
    chat: ChatSync;
    /** Whether this peer may delete messages, kick and ban. */
    moderator: boolean;
    /** Who is here (small rooms, as the `participants` push); null in rooms too large to list. */
    participants: ParticipantInfo[] | null;
    /** Hosts: the viewers whose hands are up, and the invitations still open. */
    hands: { peerId: string; name: string }[];
    invitations: InvitationInfo[];
    /** Who this participant may call: nobody, the room's broadcasters and admins (hosts), or everyone. */
    calls: 'off' | 'hosts' | 'everyone';
    /** Whether an operator records the room's stage now (then `recording` pushes say when that changes). */
    recording: RecordingNotice;
  };
  setRtpCapabilities: Record<string, never>;
  createTransport: TransportInfo;
  connectTransport: Record<string, never>;
  restartIce: { iceParameters: unknown };
  produce: { producerId: string };
  closeProducer: Record<string, never>;
  pauseProducer: Record<string, never>;
  resumeProducer: Record<string, never>;
  consume: ConsumerInfo;
  resumeConsumer: Record<string, never>;
  pauseConsumer: Record<string, never>;
  setPreferredLayers: Record<string, never>;
  requestKeyFrame: Record<string, never>;
  reportFirstFrame: Record<string, never>;
  leave: Record<string, never>;
  chatSend: { id: string; seq: number; ts: number };
  chatSync: ChatSync;
  chatDelete: Record<string, never>;
  chatClear: Record<string, never>;
  kick: Record<string, never>;
  ban: Record<string, never>;
  /** The guest's token; the page builds `broadcast.html?room=…&token=…` from it. */
  mintGuestLink: { token: string; room: string; name: string; expiresAt: number };
  raiseHand: Record<string, never>;
  lowerHand: Record<string, never>;
  inviteToStage: InvitationInfo;
  withdrawInvitation: Record<string, never>;
  /** On accept: the slot is yours; produce (what `video` allows) before `publishBy` (server time) or it is given back. */
  answerInvitation: { accepted: boolean; video: boolean; publishBy: number | null };
  sendToAudience: Record<string, never>;
  callStart: { callId: string; ringsUntil: number };
  callAnswer: Record<string, never>;
  callHangup: Record<string, never>;
  callCreateTransport: TransportInfo;
  callConnectTransport: Record<string, never>;
  callRestartIce: { iceParameters: unknown };
  callProduce: { producerId: string };
  callConsume: ConsumerInfo;
  callResumeConsumer: Record<string, never>;
}

/** Notification payloads, by name. */
export interface Notifications {
  publisherJoined: { peerId: string; name: string; guest?: boolean };
  publisherLeft: { peerId: string };
  newProducer: ProducerInfo;
  producerClosed: { producerId: string; peerId: string };
  producerPaused: { producerId: string; peerId: string };
  producerResumed: { producerId: string; peerId: string };
  consumerClosed: { consumerId: string; producerId: string };
  consumerLayersChanged: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null };
  activeSpeaker: { peerId: string | null };
  audioLevels: { levels: { peerId: string; volume: number }[] };
  viewerCount: { count: number };
  /** Who is here, for small rooms only (large rooms get the count alone). */
  participants: { peers: ParticipantInfo[] };
  /** Carries the log's `epoch` (as in ChatSync): a client holding another epoch re-syncs instead of comparing sequences. */
  chatMessage: ChatMessage & { epoch: string };
  chatDeleted: { id: string; seq: number };
  chatCleared: { seq: number };
  /**
   * The node's copy of the chat was (re)loaded from the cluster: a client holding another
   * epoch, or a sequence other than `lastSeq`, asks for `chatSync`.
   */
  chatResync: { epoch: string; lastSeq: number };
  /** The peer's media path was lost (worker died): re-create transports, re-produce, re-consume. */
  mediaReset: { reason: string };
  /** The node is draining; reconnect elsewhere after `retryAfterMs`. */
  draining: { retryAfterMs: number };
  /**
   * The server closes this connection. Final (do not reconnect): `kicked`, `banned`,
   * `room-closed` (by an admin), `replaced` (the same link took over elsewhere).
   * `shutdown`: the node restarts; reconnect.
   */
  closing: { reason: string; code: ErrorCode | 'kicked' | 'banned' | 'room-closed' | 'replaced' | 'shutdown' };
  /**
   * Cluster mode, to a broadcaster: this room's stage is on another node (two broadcasters
   * arrived on two nodes at once, and the other won). Open the same page at `httpUrl`.
   */
  stageMoved: { httpUrl: string };
  /** An operator started or stopped recording the room's stage (everyone is told; pages show a badge). */
  recording: RecordingNotice;
  /** To broadcasters not on stage: a seat has freed up (`free` of `maxPublishers`). */
  seatAvailable: { free: number };
  /** To a broadcaster: a moderator muted this peer's microphone; it stays muted (resumeProducer is refused). */
  moderatorMuted: { kind: 'audio'; reason: string };

  /** To hosts: a viewer raised (or lowered) a hand. */
  handRaised: { peerId: string; name: string; raised: boolean };
  /** To hosts: an invitation was made or changed state. */
  invitationChanged: InvitationInfo;
  /** To the viewer invited. */
  stageInvitation: { invitationId: string; from: { peerId: string; name: string }; video: boolean; expiresAt: number };
  /** To the viewer invited: the invitation is no longer open (withdrawn, expired). */
  invitationClosed: { invitationId: string; state: InvitationState; reason: string };
  /**
   * To a guest: you are back in the audience (a host sent you, you did not publish in time,
   * or your last producer closed). Your producers are closed; publishing is refused again.
   */
  backToAudience: { reason: string; code: 'sent-back' | 'not-published' | 'left-stage' };
  /** Someone calls you. Answer with callAnswer before `ringsUntil` (server time). */
  incomingCall: { callId: string; from: { peerId: string; name: string }; video: boolean; ringsUntil: number };
  /** To the caller: the callee accepted; both sides now set up the call's media. */
  callAccepted: { callId: string };
  /** The other side produced into the call: consume it with callConsume. */
  callProducer: { callId: string; producerId: string; kind: 'audio' | 'video' };
  /** To both sides, once: the call is over. */
  callEnded: { callId: string; reason: CallEndReason; message: string };
}
export type NotificationName = keyof Notifications;

export type ServerMessage =
  | { type: 'response'; id: number | null; ok: true; data: unknown }
  | { type: 'response'; id: number | null; ok: false; error: { code: ErrorCode; message: string } }
  | { [N in NotificationName]: { type: 'notification'; method: N; data: Notifications[N] } }[NotificationName];

export function notification<N extends NotificationName>(method: N, data: Notifications[N]): string {
  return JSON.stringify({ type: 'notification', method, data });
}
