import type { Message, Position } from "../protocol/frames.ts";

/**
 * Messages appended and not yet written, grouped by room in arrival order. A batch taken
 * for writing stays queued, and so visible to readers, until `done` removes it.
 */
export class PendingQueue {
  readonly #rooms = new Map<string, Message[]>();
  #size = 0;

  /** Rows queued, including a batch being written. */
  get size(): number {
    return this.#size;
  }

  add(message: Message): void {
    const list = this.#rooms.get(message.room);
    if (list) list.push(message);
    else this.#rooms.set(message.room, [message]);
    this.#size++;
  }

  /** Up to `max` of the oldest queued rows, taken room by room in the order rooms arrived. */
  take(max: number): Message[] {
    const out: Message[] = [];
    for (const list of this.#rooms.values()) {
      if (out.length >= max) break;
      for (let i = 0; i < list.length && out.length < max; i++) out.push(list[i] as Message);
    }
    return out;
  }

  /** Removes a batch from `take` once written; rows appended meanwhile stay queued. */
  done(batch: Message[]): void {
    const counts = new Map<string, number>();
    for (const m of batch) counts.set(m.room, (counts.get(m.room) ?? 0) + 1);
    for (const [room, n] of counts) {
      const list = this.#rooms.get(room);
      if (!list) continue;
      list.splice(0, n);
      if (list.length === 0) this.#rooms.delete(room);
    }
    this.#size -= batch.length;
  }

  /** The queued rows of a room. */
  of(room: string): readonly Message[] {
    return this.#rooms.get(room) ?? [];
  }

  /** The highest queued position of a room, if it has queued rows. */
  last(room: string): Position | undefined {
    const list = this.#rooms.get(room);
    if (!list || list.length === 0) return undefined;
    const epoch = (list[list.length - 1] as Message).epoch;
    let offset = 0;
    for (const m of list) if (m.epoch === epoch && m.offset > offset) offset = m.offset;
    return { offset, epoch };
  }
}
