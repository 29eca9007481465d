import type { MediaSource, Role } from '../protocol/messages.js';
import type { Peer } from './peer.js';

/**
 * A read-only picture of one room at one instant, for admin routes and metrics:
 * they read this instead of walking room → peer → producer, so nothing outside
 * rooms/ and media/ depends on (or can change) the live objects.
 */
export interface RoomSnapshot {
  id: string;
  createdAt: number;
  /** Everyone neither on stage nor a host waiting to go live. */
  viewers: number;
  peers: number;
  publishers: { peerId: string; name: string; /** Cluster mode: a broadcaster of the origin node, relayed here. */ relay: boolean }[];
  chat: { messages: number; lastSeq: number; epoch: string };
  /** Absent when the snapshot was taken without participants (room lists, metrics). */
  participants?: ParticipantSnapshot[];
  /** The room's mediasoup routers; `origin` marks the one publishers send to. */
  routers: { worker: number; viewers: number; edges: number; origin: boolean }[];
  /** Open producers of the stage, by kind. */
  producers: { audio: number; video: number };
  /** Joining the stage with consent: viewers on stage as guests, hands up, invitations open. */
  stage: { guests: number; hands: number; invitations: number };
  /** Private calls of this room's participants, by state. */
  calls: { ringing: number; active: number };
}

export interface ParticipantSnapshot {
  peerId: string;
  name: string;
  role: Role;
  onStage: boolean;
  joinedAt: number;
  producers: { producerId: string; kind: 'audio' | 'video'; source: MediaSource; paused: boolean }[];
  consumers: number;
  transports: number;
  /** Worker index of the router this participant receives from; null before its first recv transport. */
  recvWorker: number | null;
}

export function describePeer(p: Peer): ParticipantSnapshot {
  return {
    peerId: p.id,
    name: p.name,
    role: p.role,
    onStage: p.onStage,
    joinedAt: p.joinedAt,
    producers: [...p.producers.values()]
      .filter(({ producer }) => !producer.closed)
      .map(({ producer, source }) => ({ producerId: producer.id, kind: producer.kind, source, paused: producer.paused })),
    consumers: p.consumers.size,
    transports: p.transports.size,
    recvWorker: p.recvRouter?.workerIndex ?? null,
  };
}
