import type { Client } from "@libsql/client";
import type { Logger } from "../log.ts";
import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import { newEpoch } from "./epoch.ts";

type State =
  | { kind: "marking"; done: Promise<void> }
  /** `used`: an offset was handed out in the room since the last sweep looked at it. */
  | { kind: "dirty"; used: boolean }
  | { kind: "clearing"; done: Promise<void> };

/** Rooms per UPDATE statement. */
const CHUNK = 500;

/**
 * How often written rooms are swept: a room is cleared by the first sweep to find it unused
 * since the one before, so after one to two such periods without a publish.
 */
const QUIET_MS = 1000;
/** Attempts to clear written rooms at a clean stop, and the wait between them. */
const SETTLE_ATTEMPTS = 5;
const SETTLE_RETRY_MS = 100;

function placeholders(n: number): string {
  return Array.from({ length: n }, () => "?").join(",");
}

/**
 * Marks rooms as holding offsets that are handed out but not yet written, so that an unclean
 * stop never lets a restarted node hand the same offsets out again in the same epoch.
 *
 * A room is marked (one batched UPDATE for every room asking in the same tick) before its
 * first unwritten offset is acknowledged, and cleared once the writer has written all its
 * rows and no publish has used it for a sweep period (`QUIET_MS`, 1 s). A room still marked when the
 * store opens gets a new epoch: its clients recover with `recovered: false` instead of
 * trusting offsets whose messages were lost.
 *
 * Clearing waits for a quiet room because a room in steady use would otherwise be cleared
 * after every batch and marked again by its next publish: two more writes, each a sync to
 * disk on a local file, and that publish held until its mark is written. The cost is that an
 * unclean stop within a second or two of a room's last publish gives the room a new epoch
 * even when all its rows were written. Telling a quiet room by a flag cleared at each sweep,
 * not a clock read per publish, keeps the publish path to one store.
 */
export class DirtyRooms {
  readonly #states = new Map<string, State>();
  #toMark = new Set<string>();
  #marking: Promise<void> | undefined;
  #failing = false;
  /** Written rooms to clear once quiet. */
  readonly #candidates = new Set<string>();
  #sweepTimer: Timer | undefined;
  #clearing: Promise<void> = Promise.resolve();
  /** The store is closing: no more timed sweeps. */
  #settled = false;

  constructor(
    private readonly client: () => Client | undefined,
    private readonly log: Logger,
    private readonly epochOf: (room: string) => string,
    /** Reopens the connection after a failed write (see the store's renewConnections). */
    private readonly renew: () => Promise<void>,
    /** True when none of the room's rows waits to be written. */
    private readonly written: (room: string) => boolean,
  ) {}

  /**
   * Resolves once `room` is marked; undefined (nothing to wait for) when it already is.
   * Rejects with `unavailable` when the mark cannot be written (the database is locked or
   * gone): handing out offsets that an unclean stop could hand out again in the same epoch
   * would break the one promise offsets make, so the publish fails instead, and the next one
   * tries to mark the room again. Rooms already marked keep publishing through an outage.
   */
  mark(room: string): Promise<void> | undefined {
    const state = this.#states.get(room);
    if (state?.kind === "dirty") {
      state.used = true;
      return undefined;
    }
    if (state?.kind === "marking") return state.done;
    if (state?.kind === "clearing") return state.done.then(() => this.mark(room));
    this.#toMark.add(room);
    if (!this.#marking) {
      this.#marking = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
        this.#writeMarks(),
      );
      // Every caller awaits it; this keeps a failure nobody awaits from being unhandled.
      this.#marking.catch(() => {});
    }
    const done = this.#marking;
    this.#states.set(room, { kind: "marking", done });
    return done;
  }

  /** Rooms marked or being marked: a clean stop now would leave none. */
  count(): number {
    return this.#states.size;
  }

  /**
   * Notes that rows of `rooms` were written: each is cleared once all its rows are written and
   * it has gone a whole sweep period without a publish.
   */
  wrote(rooms: Iterable<string>): void {
    for (const room of rooms) this.#candidates.add(room);
    this.#armSweep();
  }

  /**
   * Clears every written room now, quiet or not, and waits for clears under way (clean stop).
   * A clear that fails (another connection holds the file's write lock) is tried again a few
   * times; rooms still marked after that start new epochs on the next start.
   */
  async settle(): Promise<void> {
    this.#settled = true;
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    for (let attempt = 1; ; attempt++) {
      this.#sweep(true);
      await this.#clearing;
      const left = [...this.#candidates].filter((r) => this.#states.get(r)?.kind === "dirty");
      if (left.length === 0) return;
      if (attempt === SETTLE_ATTEMPTS) {
        this.log.warn("rooms left marked at stop: they start new epochs on the next start", {
          rooms: left.length,
          sample: left.slice(0, 5),
        });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_RETRY_MS));
    }
  }

  #armSweep(): void {
    if (this.#settled || this.#sweepTimer || this.#candidates.size === 0) return;
    this.#sweepTimer = setTimeout(() => {
      this.#sweepTimer = undefined;
      this.#sweep(false);
      this.#armSweep();
    }, QUIET_MS);
    this.#sweepTimer.unref?.();
  }

  /** Starts clearing the candidates that are written and quiet (or all written ones, `now`). */
  #sweep(now: boolean): void {
    const ready: string[] = [];
    for (const room of this.#candidates) {
      const state = this.#states.get(room);
      if (state?.kind !== "dirty" || !this.written(room)) {
        // Not marked any more, or rows still queued: the writer names it again once written.
        this.#candidates.delete(room);
      } else if (now || !state.used) {
        ready.push(room);
        this.#candidates.delete(room);
      } else {
        state.used = false;
      }
    }
    if (ready.length > 0) this.#clearing = this.#clearing.then(() => this.#clear(ready));
  }

  /**
   * Clears rooms in one batched UPDATE, unless a publish used them since they were picked. When
   * the UPDATE fails the rooms stay marked, in memory as in the database, and are tried again.
   */
  async #clear(rooms: string[]): Promise<void> {
    const clearing = rooms.filter(
      (room) => this.#states.get(room)?.kind === "dirty" && this.written(room),
    );
    if (clearing.length === 0) return;
    const attempt = this.#update(clearing, 0).then(
      () => true,
      async (err: unknown) => {
        this.log.debug("clearing dirty rooms failed", { error: String(err) });
        await this.renew().catch(() => {});
        return false;
      },
    );
    const done = attempt.then(() => undefined);
    for (const room of clearing) this.#states.set(room, { kind: "clearing", done });
    const cleared = await attempt;
    for (const room of clearing) {
      if (this.#states.get(room)?.kind !== "clearing") continue;
      if (cleared) this.#states.delete(room);
      else {
        this.#states.set(room, { kind: "dirty", used: false });
        this.#candidates.add(room);
      }
    }
    if (!cleared) this.#armSweep();
  }

  /**
   * Gives every room left marked by an unclean stop a new epoch; returns how many. Offsets
   * continue from the last written one, under the new epoch.
   */
  async recover(): Promise<number> {
    const db = this.client();
    if (!db) return 0;
    const rs = await db.execute("SELECT room FROM rooms WHERE dirty = 1");
    const rooms = rs.rows.map((r) => String(r.room));
    for (let i = 0; i < rooms.length; i += CHUNK) {
      const chunk = rooms.slice(i, i + CHUNK);
      await db.batch(
        chunk.map((room) => ({
          sql: "UPDATE rooms SET epoch = ?, dirty = 0 WHERE room = ?",
          args: [newEpoch(), room],
        })),
        "write",
      );
    }
    if (rooms.length > 0) {
      this.log.warn("unclean stop: rooms with unwritten messages start new epochs", {
        rooms: rooms.length,
        sample: rooms.slice(0, 5),
      });
    }
    return rooms.length;
  }

  async #writeMarks(): Promise<void> {
    const rooms = [...this.#toMark];
    this.#toMark = new Set();
    this.#marking = undefined;
    try {
      await this.#markRows(rooms);
      if (this.#failing) this.log.info("dirty marks written again");
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) {
        this.log.warn("cannot mark rooms dirty: their publishes fail until it can", {
          error: String(err),
        });
      }
      this.#failing = true;
      for (const room of rooms) this.#states.delete(room);
      await this.renew().catch(() => {});
      throw new EdgepushError(
        ErrorCode.unavailable,
        "the history store cannot record this room's next offsets now; try again",
      );
    }
    for (const room of rooms) this.#states.set(room, { kind: "dirty", used: true });
  }

  /** Marks rooms dirty, creating the row of a room never written with its first epoch. */
  async #markRows(rooms: string[]): Promise<void> {
    const db = this.client();
    if (!db) throw new Error("history store is not open");
    for (let i = 0; i < rooms.length; i += CHUNK) {
      const chunk = rooms.slice(i, i + CHUNK);
      await db.execute({
        sql: `INSERT INTO rooms (room, epoch, last_offset, dirty) VALUES ${chunk.map(() => "(?, ?, 0, 1)").join(",")}
          ON CONFLICT(room) DO UPDATE SET dirty = 1`,
        args: chunk.flatMap((room) => [room, this.epochOf(room)]),
      });
    }
  }

  async #update(rooms: string[], dirty: 0 | 1): Promise<void> {
    const db = this.client();
    if (!db) throw new Error("history store is not open");
    for (let i = 0; i < rooms.length; i += CHUNK) {
      const chunk = rooms.slice(i, i + CHUNK);
      await db.execute({
        sql: `UPDATE rooms SET dirty = ? WHERE room IN (${placeholders(chunk.length)})`,
        args: [dirty, ...chunk],
      });
    }
  }
}
