/**
 * Every Redis key and channel the cluster uses, in one place. `prefix` (default
 * `fourcast`) lets several clusters share one Redis database.
 *
 * A room's keys carry the room in a hash tag (`{room}`): on a Redis Cluster they land on
 * one slot, which the chat scripts need (a script may only touch keys of one slot).
 *
 *   <p>:nodes                    set of node ids (an index; the node keys are the truth)
 *   <p>:node:<id>                string, JSON NodeInfo, expires ttl after the last heartbeat
 *   <p>:room:{<room>}:origin     string, the origin node id, expires unless its node refreshes it
 *   <p>:chat:{<room>}:meta       hash { epoch, seq }
 *   <p>:chat:{<room>}:log        stream, entry id 0-<seq>, field e = the serialized ChatEvent
 *   <p>:chat:{<room>}:history    list of serialized ChatMessage, oldest first
 *   <p>:chat:{<room>}            pub/sub channel: {"epoch":…,"event":<ChatEvent>} per event
 *   <p>:control                  pub/sub channel: commands between nodes (cluster/control.ts)
 *   <p>:rpc:<node id>            pub/sub channel: pipe requests and answers for one node (cluster/cascade.ts)
 *   <p>:stage:{<room>}           pub/sub channel: the room's stage as its origin node publishes it
 *   <p>:presence:{<room>}        hash node id → "<ms> <NodePresence JSON>", each node's part of the room
 *   <p>:bans:{<room>}            hash { <ban key (tok:… or ip:…)>: expiry, ms since the epoch }, expires with its longest ban
 *   <p>:bans:rooms               set of rooms with bans (an index; the hashes are the truth)
 *   <p>:bans:epoch               string, a random id written when Redis holds no ban state: a new one means Redis lost the bans
 *   <p>:bans                     pub/sub channel: {"o":<node>,"s":<seq>,"c":<BanChange>} per ban, lift or clear
 */
export class ClusterKeys {
  constructor(readonly prefix = 'fourcast') {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new Error(`key prefix ${JSON.stringify(prefix)}: use 1-64 letters, digits, _ . or -`);
  }

  nodes(): string {
    return `${this.prefix}:nodes`;
  }

  node(id: string): string {
    return `${this.prefix}:node:${id}`;
  }

  origin(room: string): string {
    return `${this.prefix}:room:{${checkRoom(room)}}:origin`;
  }

  nodeRpc(id: string): string {
    return `${this.prefix}:rpc:${checkNodeId(id)}`;
  }

  stage(room: string): string {
    return `${this.prefix}:stage:{${checkRoom(room)}}`;
  }

  control(): string {
    return `${this.prefix}:control`;
  }

  presence(room: string): string {
    return `${this.prefix}:presence:{${checkRoom(room)}}`;
  }

  chat(room: string): { meta: string; log: string; history: string; channel: string } {
    const base = `${this.prefix}:chat:{${checkRoom(room)}}`;
    return { meta: `${base}:meta`, log: `${base}:log`, history: `${base}:history`, channel: base };
  }

  /** The bans of one room (a hash). */
  bans(room: string): string {
    return `${this.prefix}:bans:{${checkRoom(room)}}`;
  }

  /** The cluster-wide ban keys; `roomPrefix` + room + `}` is a room's hash (for scripts that walk the index). */
  banIndex(): { rooms: string; epoch: string; channel: string; roomPrefix: string } {
    const base = `${this.prefix}:bans`;
    return { rooms: `${base}:rooms`, epoch: `${base}:epoch`, channel: base, roomPrefix: `${base}:{` };
  }
}

/** Room names as the protocol allows them (`roomName` in protocol/messages.ts); anything else would break the hash tag. */
function checkRoom(room: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(room)) throw new Error(`room ${JSON.stringify(room)}: must be 1-64 letters, digits, _ or -`);
  return room;
}

/** Node ids: letters, digits, _ . : - (the id appears in key names and logs). */
export function checkNodeId(id: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) throw new Error(`node id ${JSON.stringify(id)}: must be 1-128 letters, digits, _ . : or -`);
  return id;
}
