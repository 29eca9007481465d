import { pino, type Logger } from 'pino';

/** A real pino logger whose JSON lines are kept for assertions. */
export function captureLog(level = 'debug'): { log: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(s) });
  return { log, lines, text: () => lines.join('') };
}
