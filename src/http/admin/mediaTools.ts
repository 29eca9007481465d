import type { FastifyPluginAsync } from 'fastify';
import { MAX_PROBES_PER_REQUEST, type IngestSpec, type MediaProbes, type ProbePlacement } from '../../loadtools/probes.js';
import { errors, roomParam, roomParams, route, type RoomParams } from './schemas.js';

export interface MediaToolsOptions {
  probes: Pick<MediaProbes, 'startIngest' | 'stopIngest' | 'addProbes' | 'probeStats' | 'closeProbes'>;
}

const ingestParams = {
  type: 'object',
  properties: { room: roomParam, producerId: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['room', 'producerId'],
  additionalProperties: false,
} as const;

const ingestBody = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['video', 'audio'] },
    name: { type: 'string', minLength: 1, maxLength: 32, description: 'Display name of the ingest publisher; ingests with the same name share one stage slot (one video + one audio)' },
    payloadType: { type: 'integer', minimum: 0, maximum: 127, description: 'RTP payload type the sender uses' },
    ssrc: { type: 'integer', minimum: 1, maximum: 4294967295, description: 'SSRC the sender uses (simulcast: of its lowest layer)' },
    simulcastSsrcs: {
      type: 'array',
      minItems: 1,
      maxItems: 3,
      items: { type: 'integer', minimum: 1, maximum: 4294967295 },
      description: 'Video only: SSRCs of the higher simulcast layers, each the next spatial layer up; all layers arrive on the one ingest port',
    },
    codec: { type: 'string', enum: ['VP8', 'H264', 'opus'] },
  },
  required: ['kind', 'name', 'payloadType', 'ssrc', 'codec'],
  additionalProperties: false,
} as const;

const ingestReply = {
  type: 'object',
  properties: {
    producerId: { type: 'string' },
    peerId: { type: 'string', description: 'The ingest publisher (a server-side peer on stage)' },
    ip: { type: 'string' },
    rtpPort: { type: 'integer' },
    rtcpPort: { type: 'integer' },
  },
  required: ['producerId', 'peerId', 'ip', 'rtpPort', 'rtcpPort'],
} as const;

const probesBody = {
  type: 'object',
  properties: {
    ip: { type: 'string', minLength: 2, maxLength: 45, description: 'Address the probes send to: loopback or private only' },
    ports: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_PROBES_PER_REQUEST,
      items: { type: 'integer', minimum: 1, maximum: 65535 },
      description: 'One UDP port per probe (a port may repeat; streams differ by SSRC)',
    },
    srtp: { type: 'boolean', default: false, description: 'SRTP (AES_CM_128_HMAC_SHA1_80) instead of plain RTP' },
    placement: { type: 'string', enum: ['spread', 'origin'], default: 'spread', description: '`spread`: placed like viewers (fan-out routers); `origin`: on the origin router' },
  },
  required: ['ip', 'ports'],
  additionalProperties: false,
} as const;

const srtpParameters = {
  type: 'object',
  properties: { cryptoSuite: { type: 'string' }, keyBase64: { type: 'string' } },
  required: ['cryptoSuite', 'keyBase64'],
} as const;

/** What identifies a probe's consumer, in both the create and the stats replies. */
const consumerIdentity = {
  consumerId: { type: 'string' },
  producerId: { type: 'string' },
  kind: { type: 'string' },
  ssrc: { type: 'integer' },
} as const;
const consumerIdentityRequired = ['consumerId', 'producerId', 'kind', 'ssrc'] as const;

const probeConsumer = {
  type: 'object',
  properties: { ...consumerIdentity, payloadType: { type: 'integer' }, clockRate: { type: 'integer' } },
  required: [...consumerIdentityRequired, 'payloadType', 'clockRate'],
} as const;

const probesReply = {
  type: 'object',
  properties: {
    probes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          probeId: { type: 'string' },
          port: { type: 'integer' },
          worker: { type: 'integer', description: 'mediasoup worker index sending this probe’s media' },
          srtpParameters: { ...srtpParameters, description: 'What mediasoup encrypts with (srtp only)' },
          consumers: { type: 'array', items: probeConsumer },
        },
        required: ['probeId', 'port', 'worker', 'consumers'],
      },
    },
  },
  required: ['probes'],
} as const;

const statsReply = {
  type: 'object',
  properties: {
    at: { type: 'integer', description: 'Server time of the snapshot, ms since the epoch' },
    probes: {
      type: 'array',
      description: 'Absent with ?detail=false; with ?sample, only the sampled consumers are listed',
      items: {
        type: 'object',
        properties: {
          probeId: { type: 'string' },
          port: { type: 'integer' },
          worker: { type: 'integer' },
          consumers: {
            type: 'array',
            items: {
              type: 'object',
              properties: { ...consumerIdentity, packetCount: { type: 'integer' }, byteCount: { type: 'integer' } },
              required: [...consumerIdentityRequired, 'packetCount', 'byteCount'],
            },
          },
        },
        required: ['probeId', 'port', 'worker', 'consumers'],
      },
    },
    totals: {
      type: 'object',
      properties: {
        probes: { type: 'integer' },
        consumers: { type: 'integer' },
        sampled: { type: 'integer', description: 'Consumers whose stats were read (all of them unless ?sample)' },
        packetCount: { type: 'integer' },
        byteCount: { type: 'integer' },
        byWorker: {
          type: 'array',
          items: {
            type: 'object',
            properties: { worker: { type: 'integer' }, consumers: { type: 'integer' }, packetCount: { type: 'integer' } },
            required: ['worker', 'consumers', 'packetCount'],
          },
        },
      },
      required: ['probes', 'consumers', 'sampled', 'packetCount', 'byteCount', 'byWorker'],
    },
    producers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          producerId: { type: 'string' },
          kind: { type: 'string' },
          packetCount: { type: 'integer' },
          byteCount: { type: 'integer' },
          packetsLost: { type: 'integer', description: 'Sequence gaps seen by the origin (drops before or at its socket)' },
        },
        required: ['producerId', 'kind', 'packetCount', 'byteCount', 'packetsLost'],
      },
    },
  },
  required: ['at', 'totals', 'producers'],
} as const;

interface IngestParams extends RoomParams {
  producerId: string;
}
interface ProbesBody {
  ip: string;
  ports: number[];
  srtp: boolean;
  placement: ProbePlacement;
}

/**
 * Load-test media tools under `/admin/rooms/:room/…`: RTP ingest publishers
 * and probe consumers. The media logic is in loadtools/probes.ts; these routes
 * only validate (the admin scope checks the token and maps errors).
 */
export const mediaToolsRoutes: FastifyPluginAsync<MediaToolsOptions> = async (app, { probes }) => {
  app.post<{ Params: RoomParams; Body: IngestSpec }>(
    '/admin/rooms/:room/ingest',
    route('Start an RTP ingest publisher (comedia PlainTransport on the origin router); it takes a stage slot like a broadcaster', {
      params: roomParams,
      body: ingestBody,
      response: { 201: ingestReply, ...errors },
    }),
    async (req, reply) => reply.code(201).send(await probes.startIngest(req.params.room, req.body)),
  );

  app.delete<{ Params: IngestParams }>(
    '/admin/rooms/:room/ingest/:producerId',
    route('Stop an RTP ingest (its publisher leaves the stage with its last producer)', {
      params: ingestParams,
      response: {
        200: { type: 'object', properties: { room: { type: 'string' }, producerId: { type: 'string' }, closed: { type: 'boolean' } }, required: ['room', 'producerId', 'closed'] },
        ...errors,
      },
    }),
    async (req) => {
      probes.stopIngest(req.params.room, req.params.producerId);
      return { room: req.params.room, producerId: req.params.producerId, closed: true };
    },
  );

  app.post<{ Params: RoomParams; Body: ProbesBody }>(
    '/admin/rooms/:room/probes',
    route('Add probe consumers: one PlainTransport per port, consuming every producer of the room, sending (S)RTP to ip:port', {
      params: roomParams,
      body: probesBody,
      response: { 201: probesReply, ...errors },
    }),
    async (req, reply) => reply.code(201).send({ probes: await probes.addProbes(req.params.room, req.body) }),
  );

  app.get<{ Params: RoomParams; Querystring: { detail: boolean; sample?: number } }>(
    '/admin/rooms/:room/probes/stats',
    route('Packet counts of every probe consumer (outbound-rtp) and of the room’s producers', {
      params: roomParams,
      querystring: {
        type: 'object',
        properties: {
          detail: { type: 'boolean', default: true, description: 'false: totals only' },
          sample: {
            type: 'integer',
            minimum: 1,
            maximum: 1000,
            description: 'Read at most this many consumers per (worker, producer) and extrapolate the totals: one quick snapshot even on a saturated worker',
          },
        },
        additionalProperties: false,
      },
      response: { 200: statsReply, ...errors },
    }),
    async (req) => probes.probeStats(req.params.room, { detail: req.query.detail, sample: req.query.sample }),
  );

  app.delete<{ Params: RoomParams }>(
    '/admin/rooms/:room/probes',
    route('Close every probe consumer of the room', {
      params: roomParams,
      response: { 200: { type: 'object', properties: { room: { type: 'string' }, closed: { type: 'integer' } }, required: ['room', 'closed'] }, ...errors },
    }),
    async (req) => ({ room: req.params.room, closed: probes.closeProbes(req.params.room) }),
  );
};
