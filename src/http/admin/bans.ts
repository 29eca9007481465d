import type { FastifyPluginAsync } from 'fastify';
import { banKey, type BanKind, type BanList } from '../../moderation/banList.js';
import { ProtocolError } from '../../protocol/messages.js';
import { errors, roomParam, roomParams, route, type RoomParams } from './schemas.js';

export interface BanRoutesOptions {
  /** The node's ban list (RoomManager.bans): bans live outside rooms and outlive them. */
  bans: Pick<BanList, 'list' | 'lift' | 'clear'>;
}

const kinds: readonly BanKind[] = ['token', 'address'];

const ban = {
  type: 'object',
  properties: {
    room: { type: 'string' },
    kind: { type: 'string', enum: kinds, description: 'token: an access token, by its id; address: a client address (anonymous viewers, and the address of a banned token holder)' },
    key: { type: 'string', description: 'The token id or the address; with room and kind, what DELETE /admin/rooms/{room}/bans/{kind}/{key} takes' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
  required: ['room', 'kind', 'key', 'expiresAt'],
} as const;

const lifted = {
  type: 'object',
  properties: { room: { type: 'string' }, lifted: { type: 'integer', description: 'Bans lifted' } },
  required: ['room', 'lifted'],
} as const;

const oneBanParams = {
  type: 'object',
  properties: {
    room: roomParam,
    kind: { type: 'string', enum: kinds },
    key: { type: 'string', minLength: 1, maxLength: 128, description: 'Token id or address, as GET /admin/bans lists it (URL-encoded)' },
  },
  required: ['room', 'kind', 'key'],
  additionalProperties: false,
} as const;

interface OneBanParams extends RoomParams {
  kind: BanKind;
  key: string;
}

/**
 * The node's bans: list them, lift one, lift a room's. A ban made by
 * `POST …/peers/:peerId/ban` is one entry per key: a token holder's ban is
 * two (its token and its address), an anonymous viewer's one (its address).
 * A room need not be open for any of these: bans outlive their room.
 */
export const banRoutes: FastifyPluginAsync<BanRoutesOptions> = async (app, { bans }) => {
  app.get<{ Querystring: { room?: string } }>(
    '/admin/bans',
    route('Bans in force on this node (tokens and addresses), with their expiry; ?room= for one room', {
      querystring: { type: 'object', properties: { room: roomParam }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { bans: { type: 'array', items: ban } }, required: ['bans'] }, ...errors },
    }),
    async (req) => ({
      bans: bans.list(req.query.room).map((b) => ({ room: b.room, kind: b.kind, key: b.key, expiresAt: new Date(b.expiresAt).toISOString() })),
    }),
  );

  app.delete<{ Params: RoomParams }>(
    '/admin/rooms/:room/bans',
    route('Lift every ban of a room (tokens and addresses), open or not', { params: roomParams, response: { 200: lifted, ...errors } }),
    async (req) => {
      const n = bans.clear(req.params.room);
      req.log.info({ room: req.params.room, lifted: n }, 'admin: bans lifted');
      return { room: req.params.room, lifted: n };
    },
  );

  app.delete<{ Params: OneBanParams }>(
    '/admin/rooms/:room/bans/:kind/:key',
    route(
      'Lift one ban (404 when none is in force). A banned token holder is also banned by address: lift its token ban to let it back in with its token, its address ban to let it back in without one',
      { params: oneBanParams, response: { 200: lifted, ...errors } },
    ),
    async (req) => {
      const { room, kind, key } = req.params;
      if (!bans.lift(room, banKey(kind, key))) throw new ProtocolError('not-found', `no ${kind} ban "${key}" in force in room "${room}"; GET /admin/bans?room=${room} lists them`);
      req.log.info({ room, kind }, 'admin: ban lifted');
      return { room, lifted: 1 };
    },
  );
};
