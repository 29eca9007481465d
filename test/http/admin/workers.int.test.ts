import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../../src/server.js';
import { WORKER_ANSWER_TIMEOUT_MS } from '../../../src/http/admin/workers.js';
import { startTestNode } from '../../helpers/server.js';

const ADMIN = 'admin-token-for-the-workers-test-7';

interface WorkersReply {
  workers: { index: number; pid: number; up: boolean; responding: boolean; resourceUsage: unknown }[];
}

/** Issue 12, finding 9: GET /admin/workers awaited every worker and hung behind a stopped one. */
describe('GET /admin/workers with a stopped worker (real workers)', () => {
  let node: Fourcast;
  const workers = async () => {
    const t0 = Date.now();
    const res = await fetch(`${node.urls.http}/admin/workers`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, ms: Date.now() - t0, body: (await res.json()) as WorkersReply };
  };

  beforeAll(async () => {
    node = await startTestNode({ ADMIN_TOKEN: ADMIN, MEDIASOUP_WORKERS: '2' });
  });
  afterAll(async () => node?.close());

  it('answers within the bound, the stopped worker as not responding and the other as usual', async () => {
    expect((await workers()).body.workers.map((w) => w.responding)).toEqual([true, true]);
    const pid = node.pool.workers[0]!.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const res = await workers();
      expect(res.status).toBe(200);
      expect(res.ms).toBeLessThan(WORKER_ANSWER_TIMEOUT_MS + 1500);
      expect(res.body.workers).toEqual([
        expect.objectContaining({ index: 0, pid, up: true, responding: false, resourceUsage: null }),
        expect.objectContaining({ index: 1, up: true, responding: true, resourceUsage: expect.objectContaining({ ru_maxrss: expect.any(Number) }) }),
      ]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Once it runs again, it answers again.
    const after = await workers();
    expect(after.body.workers.map((w) => w.responding)).toEqual([true, true]);
  }, 30_000);
});
