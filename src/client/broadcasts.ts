import { type EdgepushError, ErrorCode } from "../protocol/codes.ts";
import { Cursor } from "./cursor.ts";
import type { HistoryPage, HistoryQuery, Message, Position, RecoveryInfo } from "./types.ts";

/** The room every connection is subscribed to on connect. */
export const BROADCAST_ROOM = "$broadcast";

/** The largest history page the protocol allows. */
const PAGE_LIMIT = 1000;
/** Wait before reading again after the server rate-limited a read. */
const RATE_LIMIT_RETRY_MS = 1_000;

/** What the broadcast feed needs from the client. */
export interface BroadcastHooks {
  /** Reads `$broadcast` on the current connection; rejects when the connection is lost. */
  read(query: HistoryQuery): Promise<HistoryPage>;
  /** A broadcast to emit: new, in offset order. */
  deliver(message: Message): void;
  /** The outcome of reading what was missed while disconnected. */
  recovery(info: RecoveryInfo): void;
  /** A failure no request waits for. */
  error(err: EdgepushError): void;
  /** A read got no reply on a live connection: the connection is not healthy. */
  unhealthy(reason: string): void;
}

/** A connection replaced or a client stopped while a read was out: the run is over. */
class Superseded extends Error {}

function positionAfter(page: HistoryPage, fallback: number): Position {
  return { offset: page.messages.at(-1)?.offset ?? fallback, epoch: page.epoch };
}

/** The page that starts at `at` itself, so finding it proves nothing after it was trimmed. */
function pageFrom(at: Position): HistoryQuery {
  return { since: Math.max(0, at.offset - 1), limit: PAGE_LIMIT };
}

/** Whether `page` (read with {@link pageFrom}) starts at `at`, in its epoch. */
function startsAt(page: HistoryPage, at: Position): boolean {
  if (page.epoch !== at.epoch) return false;
  const first = page.messages[0];
  if (!first) return at.offset === 0; // at 0 there is nothing to find
  return first.offset === Math.max(1, at.offset);
}

/** Whether `live` is the broadcast right after `at`, or one before it. */
function follows(live: Message, at: Position): boolean {
  return live.epoch === at.epoch && live.offset <= at.offset + 1;
}

/** Whether `live` skips offsets after `at` in the same epoch: some never arrived. */
function skips(live: Message, at: Position): boolean {
  return live.epoch === at.epoch && live.offset > at.offset + 1;
}

/**
 * The client's `$broadcast` stream. The server subscribes every connection to it but has no
 * `since` for it in `connect`, so the feed reads what was missed with `history`:
 * - the first connection reads the newest broadcast's position (unless a broadcast arrives
 *   first), the starting point of every later recovery;
 * - every later connection pages `history` forward from the last position delivered, holding
 *   the live broadcasts that arrive meanwhile and emitting them after the recovered ones;
 * - a live broadcast that skips offsets (a message lost between nodes) starts the same
 *   recovery on the open connection;
 * - a cursor drops whatever was emitted already, so replays and live messages show once.
 *
 * Each connection is one run; a run whose connection dropped stops at its next step and
 * emits nothing more, and the next connection starts again from the last position delivered.
 */
export class BroadcastFeed {
  readonly #cursor = new Cursor();
  /** The position learnt on the first connection, used while no broadcast was delivered. */
  #start: Position | undefined;
  /** Live broadcasts received while a recovery runs; null when none runs. */
  #held: Message[] | null = null;
  /** False after a failed recovery until the next broadcast: a jump then is no news. */
  #checkGaps = true;
  #run = 0;

  constructor(
    private readonly recover: boolean,
    private readonly hooks: BroadcastHooks,
  ) {}

  /** Where the next recovery starts: the last broadcast delivered, or the starting point. */
  get position(): Position | undefined {
    return this.#cursor.position ?? (this.#start ? { ...this.#start } : undefined);
  }

  /** A connection was accepted: learn the starting point, or recover what was missed. */
  connected(): void {
    const run = ++this.#run;
    this.#held = null;
    if (!this.recover) return;
    const since = this.position;
    if (since) this.#startRecovery(run, since, []);
    else void this.#baseline(run);
  }

  /** The connection dropped or the client stopped: any run in progress is over. */
  offline(): void {
    this.#run++;
    this.#held = null;
  }

  /** A live `$broadcast` message of the current connection. */
  received(message: Message): void {
    if (this.#held) {
      this.#held.push(message);
      return;
    }
    // Offset 0 may come from an empty history, which does not tell the room's real offset.
    const at = this.position;
    if (this.recover && this.#checkGaps && at && at.offset > 0 && skips(message, at)) {
      this.#startRecovery(this.#run, at, [message]);
      return;
    }
    this.#emit(message);
  }

  #startRecovery(run: number, since: Position, held: Message[]): void {
    // From the starting point, the cursor starts there too: nothing at or before it shows.
    if (!this.#cursor.position) this.#cursor.reset(since);
    this.#held = held;
    void this.#recover(run, since);
  }

  async #baseline(run: number): Promise<void> {
    try {
      const latest = await this.#latest(run);
      if (!this.#cursor.position) this.#start = latest;
    } catch (err) {
      this.#failed(run, err);
    }
  }

  /** Emits what history holds after `since`, then reports whether nothing is missing. */
  async #recover(run: number, since: Position): Promise<void> {
    let reached = since;
    let recovered = false;
    try {
      for (;;) {
        const page = await this.#read(run, pageFrom(reached));
        if (!startsAt(page, reached)) break; // trimmed past it, or the sequence was lost
        const next = this.#replay(run, page, reached);
        if (run !== this.#run) return;
        if (!next) break; // a hole in history: a broadcast is gone
        const progressed = next.offset > reached.offset;
        reached = next;
        // Done once the live broadcasts held go on from here, or history has no more; then
        // whatever history lacks, the live broadcasts held must continue from here.
        const live = this.#held?.[0];
        if (live && follows(live, reached)) {
          recovered = true;
          break;
        }
        if (!progressed) {
          recovered = !live;
          break;
        }
      }
      if (!recovered) {
        reached = await this.#latest(run);
        this.#moveTo(reached);
      }
    } catch (err) {
      if (!this.#failed(run, err)) return;
    }
    this.#finish(run, { room: BROADCAST_ROOM, recovered, since, latest: reached });
  }

  /**
   * Emits the broadcasts of `page` after `from` while each follows the last; returns the
   * position reached, or undefined at a hole.
   */
  #replay(run: number, page: HistoryPage, from: Position): Position | undefined {
    let at = from;
    for (const message of page.messages) {
      if (run !== this.#run) return at;
      if (message.offset <= at.offset) continue;
      if (message.offset !== at.offset + 1) return undefined;
      this.#emit(message);
      at = { offset: message.offset, epoch: message.epoch };
    }
    return at;
  }

  /** After a failed recovery: continue from `latest`, never back within the same epoch. */
  #moveTo(latest: Position): void {
    const at = this.position;
    if (!at || at.epoch !== latest.epoch || at.offset < latest.offset) this.#cursor.reset(latest);
  }

  /** The newest broadcast's position (offset 0 when history keeps none). */
  async #latest(run: number): Promise<Position> {
    return positionAfter(await this.#read(run, { limit: 1 }), 0);
  }

  /** Reads a page on this run's connection, waiting out rate limits. */
  async #read(run: number, query: HistoryQuery): Promise<HistoryPage> {
    for (;;) {
      if (run !== this.#run) throw new Superseded();
      try {
        const page = await this.hooks.read(query);
        if (run !== this.#run) throw new Superseded();
        return page;
      } catch (err) {
        if ((err as EdgepushError).code !== ErrorCode.rateLimited) throw err;
        await new Promise((resolve) => setTimeout(resolve, RATE_LIMIT_RETRY_MS));
      }
    }
  }

  /**
   * Handles a failed read. Returns true when the run should go on without recovering (the
   * server refused the read), false when it is over.
   */
  #failed(run: number, err: unknown): boolean {
    if (err instanceof Superseded || run !== this.#run) return false;
    const error = err as EdgepushError;
    if (error.code === ErrorCode.unavailable) {
      // The connection is still up but did not answer: replace it, the next one redoes this.
      this.hooks.unhealthy(`no reply to history ${BROADCAST_ROOM}`);
      return false;
    }
    this.hooks.error(error);
    return true;
  }

  /** Reports the outcome, then emits the live broadcasts held meanwhile. */
  #finish(run: number, info: RecoveryInfo): void {
    if (run !== this.#run) return;
    this.#checkGaps = info.recovered;
    this.hooks.recovery(info);
    const held = this.#held ?? [];
    this.#held = null;
    for (const message of held) {
      if (run !== this.#run) return;
      this.#emit(message);
    }
  }

  #emit(message: Message): void {
    if (!this.#cursor.accept(message)) return;
    this.#checkGaps = true;
    this.hooks.deliver(message);
  }
}
