import { pino } from 'pino';
import { WorkerPool } from '../../src/media/workerPool.js';
import { freePortRange } from './ports.js';

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A real worker pool bound to 127.0.0.1 on free ports. */
export async function createTestPool(count = 1): Promise<WorkerPool> {
  return WorkerPool.create({
    count,
    logLevel: 'warn',
    listen: [{ ip: '127.0.0.1' }],
    portBase: await freePortRange(count),
    log: silentLog,
  });
}
