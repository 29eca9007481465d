import { ProtocolError } from '../protocol/messages.js';

/**
 * How long the server waits for one mediasoup request. A healthy worker answers
 * in well under 50 ms even under load; mediasoup's own channel timeout (15 s and
 * more) would hold a join for that long when a worker is stopped or saturated.
 */
export const MEDIA_REQUEST_TIMEOUT_MS = 5000;

/**
 * Races `promise` against a timer. On timeout it rejects with a typed
 * `media-unavailable` error, and `onLate` receives the value if the request
 * still succeeds later, so whatever it created is closed instead of orphaned.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onLate?: (value: T) => void): Promise<T> {
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new ProtocolError('media-unavailable', `the media server did not answer "${what}" within ${ms} ms; try again shortly`));
    }, ms);
    timer.unref();
  });
  const guarded = promise.then(
    (value) => {
      clearTimeout(timer);
      if (timedOut) onLate?.(value);
      return value;
    },
    (err: unknown) => {
      clearTimeout(timer);
      // mediasoup's InvalidStateError: the channel or the object closed under the request (its worker died).
      if ((err as Error | undefined)?.name === 'InvalidStateError') {
        throw new ProtocolError('media-unavailable', `the media server restarted during "${what}"; try again shortly`);
      }
      throw err;
    },
  );
  // A late rejection after the timeout must not surface as an unhandled rejection.
  guarded.catch(() => undefined);
  return Promise.race([guarded, timeout]);
}
