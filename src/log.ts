import { pino, type Logger } from 'pino';
import type { Config } from './config/index.js';

export type { Logger } from 'pino';

/**
 * The root logger. JSON lines in production (one object per event, ready for a
 * log shipper); colourised single lines on a developer's terminal. Rooms and
 * peers take `log.child({ room })` / `log.child({ peer })` so every line
 * carries its context.
 */
export function createLogger(cfg: Config['log']): Logger {
  const base = { level: cfg.level, base: { service: 'fourcast' } };
  if (cfg.format === 'pretty') {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' } },
    });
  }
  return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime });
}
