import { ServerError, type Signaling } from './signaling';
import { banner, clearBanner } from './ui';

/** Refusals that are the server's state, not the person's link: joining again later works. */
const RETRIED = new Set(['server-busy', 'media-unavailable']);

/** The server refused for now (full, or its media server slow or restarting): the same request later may work. */
export function isRetriable(err: unknown): err is ServerError {
  return err instanceof ServerError && RETRIED.has(err.code);
}

/**
 * Joins through `start`, and when the server is full (`server-busy`) or its media server is
 * not answering, says so in words and tries again with a growing pause (5 s … 60 s) while
 * the socket stays open. Any other error is returned for the page to handle.
 */
export function joinWhenServerAllows(signaling: Signaling, start: () => Promise<void>): () => Promise<unknown> {
  let attempt = 0;
  let timer: number | undefined;
  const join = async (): Promise<unknown> => {
    window.clearTimeout(timer);
    try {
      await start();
      if (attempt > 0) clearBanner();
      attempt = 0;
      return undefined;
    } catch (err) {
      if (!isRetriable(err)) return err;
      const ms = Math.min(60_000, 5_000 * 2 ** attempt++);
      banner(`${err.message}. Trying again in ${Math.round(ms / 1000)} s…`, 'info');
      timer = window.setTimeout(() => signaling.isOpen && void join(), ms);
      return undefined;
    }
  };
  return join;
}
