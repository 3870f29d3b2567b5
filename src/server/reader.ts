import type { Broker } from "../broker/types.ts";
import type { HistoryQuery, HistoryStore } from "../history/types.ts";
import type { MemoryWindow } from "../history/window.ts";
import type { Message, Position } from "../protocol/frames.ts";
import type { Namespaces } from "../rooms/names.ts";

/** Largest number of messages a single recovery replays; older gaps answer recovered:false. */
const STORE_PAGE = 1000;

/**
 * Reads a room's past: the memory window first, then the broker's hot history, then the
 * store. Applies the namespace's retention (size and age) so that what is recoverable does
 * not depend on when background retention last ran.
 */
export class HistoryReader {
  constructor(
    private readonly deps: {
      window: MemoryWindow;
      broker: Broker;
      store: HistoryStore;
      namespaces: Namespaces;
    },
  ) {}

  /**
   * The messages after `since` up to `latest`, when every one of them is still kept;
   * undefined when the client cannot recover (another epoch, too old, or beyond latest).
   */
  async missed(room: string, since: Position, latest: Position): Promise<Message[] | undefined> {
    if (since.epoch !== latest.epoch || since.offset > latest.offset) return undefined;
    const count = latest.offset - since.offset;
    if (count === 0) return [];
    const ns = this.deps.namespaces.of(room);
    if (count > ns.historySize) return undefined;
    const found = await this.#range(room, latest.epoch, since.offset, latest.offset);
    if (found.length !== count || found[0]?.offset !== since.offset + 1) return undefined;
    const first = found[0];
    if (ns.historyTtlSeconds > 0 && first.ts < Date.now() - ns.historyTtlSeconds * 1000) {
      return undefined;
    }
    return found;
  }

  /**
   * A page of history, oldest first, within the namespace's retention. It spans epochs:
   * messages written before the room's sequence started a new epoch (an unclean stop) keep
   * their offsets and their own `epoch`, and stay readable until retention removes them.
   */
  async query(room: string, epoch: string, latest: number, q: HistoryQuery): Promise<Message[]> {
    const ns = this.deps.namespaces.of(room);
    const floor = Math.max(0, latest - ns.historySize);
    const minTs = ns.historyTtlSeconds > 0 ? Date.now() - ns.historyTtlSeconds * 1000 : 0;
    const keep = (m: Message) => m.offset > floor && m.ts >= minTs;

    if (q.since !== undefined) {
      // Expired messages come before every kept one, so a page that keeps nothing is skipped
      // (in larger steps) until kept messages start.
      let after = Math.max(q.since, floor);
      let step = q.limit;
      while (after < latest) {
        const upto = Math.min(latest, after + step);
        const kept = (await this.#range(room, epoch, after, upto, true)).filter(keep);
        if (kept.length > 0) return kept.slice(0, q.limit);
        after = upto;
        step = Math.max(q.limit, STORE_PAGE);
      }
      return [];
    }
    const before = Math.min(q.before ?? latest + 1, latest + 1);
    const after = Math.max(floor, before - 1 - q.limit);
    const found = await this.#range(room, epoch, after, before - 1, true);
    return found.filter(keep).slice(-q.limit);
  }

  /**
   * Messages in (after, upto], from the fastest source that holds all of them: of `epoch`
   * only, or of any epoch with `anyEpoch` (the memory window and hot history hold only the
   * current one, so older ones come from the store).
   */
  async #range(
    room: string,
    epoch: string,
    after: number,
    upto: number,
    anyEpoch = false,
  ): Promise<Message[]> {
    if (upto <= after) return [];
    const fromWindow = this.deps.window.range(room, epoch, after, upto);
    if (fromWindow) return fromWindow;

    const hot = await this.deps.broker.recent(room, after, upto - after);
    if (hot && hot[0]?.offset === after + 1) {
      const inRange = hot.filter((m) => m.offset <= upto);
      if (inRange.length === upto - after) return inRange;
    }

    const out: Message[] = [];
    let cursor = after;
    while (cursor < upto) {
      const page = await this.deps.store.read(room, {
        since: cursor,
        limit: Math.min(STORE_PAGE, upto - cursor),
      });
      const inRange = page.filter((m) => m.offset <= upto && (anyEpoch || m.epoch === epoch));
      out.push(...inRange);
      const tail = page[page.length - 1];
      if (!tail || page.length < Math.min(STORE_PAGE, upto - cursor)) break;
      cursor = tail.offset;
    }
    return out;
  }
}
