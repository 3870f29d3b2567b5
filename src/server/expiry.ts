import type { Socket } from "./connection.ts";

/**
 * Token expiry for every connection on one timer: connections are kept in buckets by the
 * second their token expires, and a tick each second closes the due ones. One timer per
 * connection would cost more memory than the rest of an idle connection's state. A
 * connection's bucket is kept on the connection itself (`expiresAt`).
 */
export class ExpiryWheel {
  readonly #buckets = new Map<number, Set<Socket>>();
  #timer: Timer | undefined;

  constructor(private readonly onExpired: (ws: Socket) => void) {}

  /** Starts the once-a-second tick. */
  start(): void {
    this.#timer ??= setInterval(() => this.tick(Date.now()), 1000);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Expires `ws` at `atMs` (ms since the epoch), replacing any earlier deadline. */
  set(ws: Socket, atMs: number): void {
    this.remove(ws);
    const second = Math.ceil(atMs / 1000);
    let bucket = this.#buckets.get(second);
    if (!bucket) {
      bucket = new Set();
      this.#buckets.set(second, bucket);
    }
    bucket.add(ws);
    ws.data.expiresAt = second;
  }

  /** Forgets `ws` (closed, or refreshed without `exp`). */
  remove(ws: Socket): void {
    const second = ws.data.expiresAt;
    if (second === undefined) return;
    ws.data.expiresAt = undefined;
    const bucket = this.#buckets.get(second);
    bucket?.delete(ws);
    if (bucket?.size === 0) this.#buckets.delete(second);
  }

  /** Expires every connection due at or before `nowMs`. */
  tick(nowMs: number): void {
    const now = Math.floor(nowMs / 1000);
    for (const [second, bucket] of this.#buckets) {
      if (second > now) continue;
      this.#buckets.delete(second);
      for (const ws of bucket) {
        ws.data.expiresAt = undefined;
        this.onExpired(ws);
      }
    }
  }
}
