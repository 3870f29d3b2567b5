import type { Message, Position } from "./types.ts";

/**
 * The last position a client saw in one room. It lets a message through only when its offset
 * is above that position in the same epoch (or it starts a new epoch), so nothing is
 * delivered twice across reconnects and replays.
 */
export class Cursor {
  #position: Position | undefined;

  constructor(start?: Position) {
    this.#position = start;
  }

  /** The last position seen, if any. */
  get position(): Position | undefined {
    return this.#position ? { ...this.#position } : undefined;
  }

  /** Moves to `position` (after a subscribe reply that does not replay). */
  reset(position: Position): void {
    this.#position = { offset: position.offset, epoch: position.epoch };
  }

  /** Whether `message` is new; if so the cursor moves to it. */
  accept(message: Message): boolean {
    const p = this.#position;
    if (p && p.epoch === message.epoch && message.offset <= p.offset) return false;
    this.#position = { offset: message.offset, epoch: message.epoch };
    return true;
  }
}
