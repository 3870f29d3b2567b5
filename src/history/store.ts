import type { Client } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import type { Config } from "../../config/schema.ts";
import type { Logger } from "../log.ts";
import type { Message, Position } from "../protocol/frames.ts";
import { modeOf, openClient } from "./connect.ts";
import { DirtyRooms } from "./dirty.ts";
import { firstEpoch } from "./epoch.ts";
import { mergePage } from "./merge.ts";
import { databaseId } from "./meta.ts";
import { applyMigrations } from "./migrations.ts";
import { PendingQueue } from "./queue.ts";
import { retentionPass } from "./retention.ts";
import { type Db, readStored, storedPosition, writeBatch } from "./rows.ts";
import type { HistoryQuery, HistoryStats, HistoryStore, Retention } from "./types.ts";

/** Longest wait between two write attempts while writes fail. */
const MAX_BACKOFF_MS = 5000;

/** What a store needs: its config, a logger, and the retention of each room's namespace. */
export interface StoreOptions {
  config: Config["history"];
  log: Logger;
  retentionOf: (room: string) => Retention;
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The same-epoch maximum of stored and queued positions; a queued epoch is the newest. */
function latest(stored: Position, queued: (Position | undefined)[]): Position {
  let out = stored;
  for (const q of queued) {
    if (!q) continue;
    if (q.epoch !== out.epoch) out = q;
    else if (q.offset > out.offset) out = { offset: q.offset, epoch: q.epoch };
  }
  return out;
}

/**
 * The history store on libSQL. Appends go to an in-memory queue that a background writer
 * flushes in batches, one transaction each; failed writes keep their rows and are retried
 * with capped backoff. Retention runs in the background in small delete batches.
 */
export class LibsqlHistoryStore implements HistoryStore {
  readonly #opts: StoreOptions;
  readonly #queue = new PendingQueue();
  readonly #creating = new Map<string, Promise<Position>>();
  #client: Client | undefined;
  #db: Db | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;
  #writing: Promise<boolean> | undefined;
  #retentionTimer: ReturnType<typeof setInterval> | undefined;
  #retaining: Promise<void> | undefined;
  #lastError: unknown;
  #outage: { since: number; attempts: number; backoffMs: number } | undefined;
  #written = 0;
  #failures = 0;
  #retained = 0;
  readonly #dirty: DirtyRooms;
  #databaseId = "";

  constructor(opts: StoreOptions) {
    this.#opts = opts;
    this.#dirty = new DirtyRooms(
      () => this.#client,
      opts.log,
      (room) => this.#firstEpoch(room),
      () => this.#renewConnections(),
      (room) => this.#queue.of(room).length === 0,
    );
  }

  async open(): Promise<void> {
    const { config, log } = this.#opts;
    const client = await openClient(config);
    try {
      await applyMigrations(client, log);
    } catch (err) {
      client.close();
      throw err;
    }
    this.#client = client;
    this.#db = drizzle(client);
    this.#databaseId = await databaseId(client);
    await this.#dirty.recover();
    const every = config.retentionIntervalSeconds * 1000;
    this.#retentionTimer = setInterval(() => void this.#retentionTick(), every);
    this.#retentionTimer.unref?.();
    log.info("history open", { mode: modeOf(config), pending: this.#queue.size });
    if (this.#queue.size > 0) this.#schedule(0);
  }

  room(room: string): Promise<Position> {
    const before = this.#queue.last(room);
    let stored = this.#creating.get(room);
    if (!stored) {
      stored = this.#loadRoom(room).finally(() => this.#creating.delete(room));
      this.#creating.set(room, stored);
    }
    return stored.then((p) => latest(p, [before, this.#queue.last(room)]));
  }

  reserve(room: string): Promise<void> | undefined {
    return this.#dirty.mark(room);
  }

  append(message: Message): void {
    this.#queue.add(message);
    if (this.#outage) return;
    this.#schedule(this.#queue.size >= this.#opts.config.batchSize ? 0 : this.#opts.config.flushMs);
  }

  async read(room: string, query: HistoryQuery): Promise<Message[]> {
    if (query.limit <= 0) return [];
    const before = [...this.#queue.of(room)];
    const stored = await readStored(this.#database(), room, query);
    return mergePage(stored, [...before, ...this.#queue.of(room)], query);
  }

  async flush(): Promise<void> {
    while (this.#queue.size > 0) {
      this.#cancelTimer();
      if (!(await this.#kick())) throw this.#lastError;
    }
  }

  pending(): number {
    return this.#queue.size;
  }

  healthy(): boolean {
    return this.#queue.size <= this.#opts.config.bufferLimit;
  }

  stats(): HistoryStats {
    return {
      written: this.#written,
      failures: this.#failures,
      pending: this.#queue.size,
      retained: this.#retained,
      dirty: this.#dirty.count(),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#retentionTimer);
    await this.#retaining;
    try {
      if (this.#db) await this.flush();
      await this.#dirty.settle();
    } catch (err) {
      this.#opts.log.error("history closed with unwritten rows", {
        pending: this.#queue.size,
        error: String(err),
      });
    }
    this.#cancelTimer();
    this.#client?.close();
    this.#client = undefined;
    this.#db = undefined;
  }

  /** Runs one retention pass now; returns the messages removed. */
  async retain(): Promise<number> {
    const client = this.#client;
    if (!client) return 0;
    let removed: number;
    try {
      removed = await retentionPass(client, this.#opts.retentionOf);
    } catch (err) {
      await this.#renewConnections().catch(() => {});
      throw err;
    }
    this.#retained += removed;
    return removed;
  }

  #database(): Db {
    if (!this.#db) throw new Error("history store is not open");
    return this.#db;
  }

  async #loadRoom(room: string): Promise<Position> {
    const db = this.#database();
    return (await storedPosition(db, room)) ?? { offset: 0, epoch: this.#firstEpoch(room) };
  }

  #firstEpoch(room: string): string {
    return firstEpoch(this.#databaseId, room);
  }

  #schedule(delayMs: number): void {
    if (!this.#db || this.#writing) return;
    const due = Date.now() + delayMs;
    if (this.#timer && this.#timerDue <= due) return;
    this.#cancelTimer();
    this.#timerDue = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#kick();
    }, delayMs);
  }

  #cancelTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Starts the writer unless it runs; resolves true once the queue is empty, false on failure. */
  #kick(): Promise<boolean> {
    this.#writing ??= this.#drain().finally(() => {
      this.#writing = undefined;
      if (this.#queue.size > 0) this.#schedule(this.#outage?.backoffMs ?? 0);
    });
    return this.#writing;
  }

  async #drain(): Promise<boolean> {
    const size = this.#opts.config.batchSize;
    while (this.#queue.size > 0) {
      const batch = this.#queue.take(size);
      try {
        if (this.#outage) await this.#renewConnections();
        const client = this.#client;
        if (!client) throw new Error("history store is not open");
        await writeBatch(client, batch);
      } catch (err) {
        this.#failed(err);
        return false;
      }
      this.#queue.done(batch);
      this.#written += batch.length;
      this.#dirty.wrote(new Set(batch.map((m) => m.room)));
      if (this.#outage) this.#recovered();
      if (this.#queue.size > 0) await nextTick();
    }
    return true;
  }

  /**
   * After a failed write on a local file, libSQL can leave the failed statement active on its
   * connection, so every later COMMIT fails with SQLITE_BUSY; fresh connections clear it.
   */
  /**
   * Opens the local database connection again after a failed write. A write refused with
   * SQLITE_BUSY leaves the local connection inside the failed statement's transaction
   * (@libsql/client 0.18), so that every later write on it would stay uncommitted: invisible
   * to other connections and lost if the process dies.
   */
  async #renewConnections(): Promise<void> {
    if (modeOf(this.#opts.config) !== "remote") await this.#client?.reconnect();
  }

  #failed(err: unknown): void {
    this.#failures++;
    this.#lastError = err;
    if (!this.#outage) {
      this.#outage = { since: Date.now(), attempts: 0, backoffMs: 0 };
      this.#opts.log.warn("history writes failing", {
        error: String(err),
        pending: this.#queue.size,
      });
    }
    this.#outage.attempts++;
    const exp = Math.min(this.#outage.attempts, 16);
    this.#outage.backoffMs = Math.min(MAX_BACKOFF_MS, this.#opts.config.flushMs * 2 ** exp);
  }

  #recovered(): void {
    const outage = this.#outage;
    this.#outage = undefined;
    if (!outage) return;
    this.#opts.log.info("history writes recovered", {
      failedAttempts: outage.attempts,
      downMs: Date.now() - outage.since,
      pending: this.#queue.size,
    });
  }

  async #retentionTick(): Promise<void> {
    if (this.#retaining || !this.#client) return;
    this.#retaining = this.retain()
      .then((removed) => {
        if (removed > 0) this.#opts.log.debug("retention removed messages", { removed });
      })
      .catch((err: unknown) => {
        this.#opts.log.warn("retention pass failed", { error: String(err) });
      })
      .finally(() => {
        this.#retaining = undefined;
      });
    await this.#retaining;
  }
}
