/**
 * Token buckets for the HTTP API: `rate` calls per second per key, bursts up to `rate`. Keys
 * are API keys (few), so buckets are kept until they have been full for a minute.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #sweptAt = 0;

  constructor(private readonly rate: number) {}

  /** Takes one call from `key`'s bucket; the seconds to wait when it is empty, else 0. */
  take(key: string, now = performance.now()): number {
    this.#sweep(now);
    const b = this.#buckets.get(key) ?? { tokens: this.rate, at: now };
    b.tokens = Math.min(this.rate, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    this.#buckets.set(key, b);
    if (b.tokens < 1) return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
    b.tokens -= 1;
    return 0;
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < 60_000) return;
    this.#sweptAt = now;
    for (const [key, b] of this.#buckets) if (now - b.at > 60_000) this.#buckets.delete(key);
  }
}
