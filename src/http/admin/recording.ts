import type { FastifyPluginAsync } from 'fastify';
import { ProtocolError } from '../../protocol/messages.js';
import type { Recordings } from '../../recording/recordings.js';
import { segmentEndReasons } from '../../recording/segment.js';
import { errors, roomParams, route, type RoomParams } from './schemas.js';

export interface RecordingRoutesOptions {
  recordings: Pick<Recordings, 'start' | 'stop' | 'get' | 'list'>;
}

const time = (description: string) => ({ type: 'string', format: 'date-time', nullable: true, description }) as const;
const epochMs = { type: 'integer', nullable: true, description: 'The same instant, ms since the epoch' } as const;

const segment = {
  type: 'object',
  properties: {
    index: { type: 'integer', description: 'Order of start within the recording (the file name starts with it)' },
    peerId: { type: 'string' },
    name: { type: 'string', description: 'The broadcaster’s display name' },
    file: { type: 'string', description: 'File name, relative to the recording’s folder (.webm for VP8/Opus, .mkv otherwise)' },
    tracks: {
      type: 'array',
      items: {
        type: 'object',
        properties: { kind: { type: 'string', enum: ['audio', 'video'] }, codec: { type: 'string' }, source: { type: 'string' }, producerId: { type: 'string' } },
        required: ['kind', 'codec', 'source', 'producerId'],
      },
    },
    state: { type: 'string', enum: ['recording', 'stopping', 'ended', 'failed'] },
    startedAt: time('When media started to flow to the encoder'),
    startedAtMs: epochMs,
    endedAt: time('When the segment ended'),
    endedAtMs: epochMs,
    endReason: { type: 'string', enum: [...segmentEndReasons], nullable: true },
    error: { type: 'string', nullable: true, description: 'What went wrong (a failure, or an ended file that is empty or unindexed)' },
    pid: { type: 'integer', nullable: true, description: 'The encoder’s (ffmpeg’s) process id' },
    exit: {
      type: 'object',
      nullable: true,
      properties: { code: { type: 'integer', nullable: true }, signal: { type: 'string', nullable: true } },
      required: ['code', 'signal'],
      description: 'How the encoder exited (0: stopped cleanly)',
    },
    bytes: { type: 'integer', nullable: true, description: 'File size once the segment ended' },
    replaces: { type: 'integer', nullable: true, description: 'Index of the failed segment this one replaced (its encoder died)' },
  },
  required: ['index', 'peerId', 'name', 'file', 'tracks', 'state', 'startedAt', 'startedAtMs', 'endedAt', 'endedAtMs', 'endReason', 'error', 'pid', 'exit', 'bytes', 'replaces'],
} as const;

const recording = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    room: { type: 'string' },
    state: { type: 'string', enum: ['starting', 'recording', 'stopping', 'stopped'] },
    folder: { type: 'string', description: 'Absolute path of the recording’s folder (segment files and manifest.json)' },
    startedAt: { type: 'string', format: 'date-time' },
    startedAtMs: { type: 'integer' },
    stoppedAt: time('When the recording was stopped'),
    stoppedAtMs: epochMs,
    stopReason: { type: 'string', enum: ['stopped', 'room-closed', 'shutdown'], nullable: true },
    segments: { type: 'array', items: segment },
    manifestError: { type: 'string', nullable: true, description: 'The last write of manifest.json failed (e.g. a full disk)' },
  },
  required: ['id', 'room', 'state', 'folder', 'startedAt', 'startedAtMs', 'stoppedAt', 'stoppedAtMs', 'stopReason', 'segments', 'manifestError'],
} as const;

/** The start takes no options: an empty or absent body, and any field is refused by name. */
const noOptions = { type: 'object', properties: {}, additionalProperties: false, description: 'No options; an empty or absent body is fine' } as const;

/**
 * Recording a room's stage under `/admin/rooms/:room/recording` and
 * `/admin/recordings`. The work is in recording/; these routes only validate
 * (the admin scope checks the token and maps errors to statuses).
 */
export const recordingRoutes: FastifyPluginAsync<RecordingRoutesOptions> = async (app, { recordings }) => {
  app.post<{ Params: RoomParams; Body: Record<string, never> }>(
    '/admin/rooms/:room/recording',
    route(
      'Start recording a room: one file per broadcaster segment (WebM/Matroska, copied by ffmpeg) and a manifest.json, in RECORDING_DIR; 409 when it is already recorded, 503 without ffmpeg',
      { params: roomParams, response: { 201: recording, ...errors } },
      noOptions,
    ),
    async (req, reply) => {
      const info = await recordings.start(req.params.room);
      req.log.info({ room: req.params.room, recording: info.id, folder: info.folder }, 'admin: recording started');
      return reply.code(201).send(info);
    },
  );

  app.delete<{ Params: RoomParams }>(
    '/admin/rooms/:room/recording',
    route('Stop recording a room; answers once every file is closed (ffmpeg exited) and the manifest is written', {
      params: roomParams,
      response: { 200: recording, ...errors },
    }),
    async (req) => {
      const info = await recordings.stop(req.params.room);
      req.log.info({ room: req.params.room, recording: info.id, segments: info.segments.length }, 'admin: recording stopped');
      return info;
    },
  );

  app.get<{ Params: RoomParams }>(
    '/admin/rooms/:room/recording',
    route('The room’s recording in progress, else its latest finished one (segments, their state, failures)', {
      params: roomParams,
      response: { 200: recording, ...errors },
    }),
    async (req) => {
      const info = recordings.get(req.params.room);
      if (!info) throw new ProtocolError('not-found', `room "${req.params.room}" has no recording on this node`);
      return info;
    },
  );

  app.get(
    '/admin/recordings',
    route('Recordings of this node: those in progress, then the latest finished ones', {
      response: { 200: { type: 'object', properties: { recordings: { type: 'array', items: recording } }, required: ['recordings'] }, ...errors },
    }),
    async () => ({ recordings: recordings.list() }),
  );
};
