import type { BackoffOptions } from "./types.ts";

/** Delays before reconnecting, and which close codes allow it. */

const DEFAULT_BASE_MS = 500;
const DEFAULT_MAX_MS = 30_000;

/** What the client does after a close code (PROTOCOL.md, close codes). */
export type CloseAction = "stop" | "refresh" | "now" | "backoff";

/**
 * The delay before attempt `attempt` (0 for the first retry): a uniformly random time
 * between 0 and `min(maxMs, baseMs * 2^attempt)` ("full jitter").
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random = Math.random) {
  const base = opts.baseMs ?? DEFAULT_BASE_MS;
  const max = opts.maxMs ?? DEFAULT_MAX_MS;
  const window = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * window);
}

/**
 * What a close code asks of the client: stop (1000, 4001, 4003), get a new token and
 * reconnect (4004), reconnect at once (1012, 4008, 4009), or back off (everything else,
 * including 1006 when the network or the server went away).
 */
export function closeAction(code: number): CloseAction {
  switch (code) {
    case 1000:
    case 4001:
    case 4003:
      return "stop";
    case 4004:
      return "refresh";
    case 1012:
    case 4008:
    case 4009:
      return "now";
    default:
      return "backoff";
  }
}

/**
 * The delay before the next reconnect attempt. "now" codes retry at once on the first
 * attempt only, so a server that keeps closing still gets backed off from; 1013 and 4029
 * (overload, rate limit) wait at least one base window.
 */
export function reconnectDelay(code: number, attempt: number, opts: BackoffOptions = {}): number {
  const action = closeAction(code);
  if ((action === "now" || action === "refresh") && attempt === 0) return 0;
  const delay = backoffDelay(attempt, opts);
  if (code === 1013 || code === 4029) return delay + (opts.baseMs ?? DEFAULT_BASE_MS);
  return delay;
}
