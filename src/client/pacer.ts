/**
 * Spaces the frames sent on one connection so that they stay under the server's per-connection
 * frame rate (`limits.framesPerSecond`, 100 by default): a token bucket of `rate` frames a
 * second that starts full. Frames over it wait, in order, instead of being refused as
 * `rate_limited` (a client with many rooms resubscribes them all at once on every connection).
 */
export class Pacer {
  #tokens: number;
  #at = Date.now();
  #queue: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly rate: number,
    private readonly send: (text: string) => void,
  ) {
    this.#tokens = rate;
  }

  /** Sends `text` now if the bucket allows, else after the frames already waiting. */
  push(text: string): void {
    this.#refill();
    if (this.#queue.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      this.send(text);
      return;
    }
    this.#queue.push(text);
    this.#schedule();
  }

  /** Drops what waits (the connection is gone; requests decide what is sent again). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  /** Frames waiting to be sent. */
  get waiting(): number {
    return this.#queue.length;
  }

  #refill(): void {
    const now = Date.now();
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
  }

  #schedule(): void {
    if (this.#timer) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) / this.rate) * 1000));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#queue.length > 0 && this.#tokens >= 1) {
        this.#tokens -= 1;
        this.send(this.#queue.shift() as string);
      }
      if (this.#queue.length > 0) this.#schedule();
    }, wait);
  }
}
