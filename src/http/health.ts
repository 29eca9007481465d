import type { FastifyPluginAsync } from 'fastify';

export interface HealthOptions {
  /** Returns the reasons the node is not ready; empty means ready. */
  notReadyReasons: () => string[] | Promise<string[]>;
}

/** `/health`: the process answers. `/ready`: it can take joins (balancers route on this). */
export const healthRoutes: FastifyPluginAsync<HealthOptions> = async (app, opts) => {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness: the process is up',
        response: { 200: { type: 'object', properties: { status: { const: 'ok' }, uptimeSeconds: { type: 'number' } }, required: ['status'] } },
      },
    },
    async () => ({ status: 'ok' as const, uptimeSeconds: Math.round(process.uptime()) }),
  );
  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: workers up, Redis reachable when configured, not draining',
        response: {
          200: { type: 'object', properties: { status: { const: 'ready' } }, required: ['status'] },
          503: { type: 'object', properties: { status: { const: 'not-ready' }, reasons: { type: 'array', items: { type: 'string' } } }, required: ['status', 'reasons'] },
        },
      },
    },
    async (_req, reply) => {
      const reasons = await opts.notReadyReasons();
      if (reasons.length) return reply.code(503).send({ status: 'not-ready' as const, reasons });
      return { status: 'ready' as const };
    },
  );
};
