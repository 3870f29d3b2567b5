import type { Logger } from "../log.ts";
import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import type { Heartbeat } from "./heartbeat.ts";
import { type Link, LinkError, LinkTimeout, type Transport, within } from "./link.ts";
import { heartbeatScript } from "./scripts.ts";
import type { ClusterStats } from "./stats.ts";

/** Longest wait for one command or script; a slower one fails with `unavailable`. */
export const COMMAND_TIMEOUT_MS = 2000;
/**
 * After a command timed out, how long a PING may take before the link counts as lost. A
 * PING answered in time, even late, shows the connection alive and the link is kept.
 */
export const PROBE_TIMEOUT_MS = 5000;
/** Reconnect backoff: first delay and cap. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2000;
/** Heartbeats with only what changed run at most this often. */
const DIFF_EVERY_MS = 1000;

export interface KeeperOptions {
  kind: string;
  transport: Transport;
  channel: string;
  /** Names the connections (CLIENT SETNAME) where the transport can. */
  name: string;
  heartbeat: Heartbeat;
  /** How often the heartbeat writes the node's state in full (presence TTL / 3). */
  fullEveryMs: number;
  log: Logger;
  /** Counters shared with the broker. */
  stats: ClusterStats;
  /** A payload from the cluster channel. */
  message(payload: string): void;
  /** The link went down (false) or came back (true). */
  status(up: boolean): void;
  /** The link is back after an outage. */
  reconnected(): void;
  /** A full heartbeat was written. */
  full(): void;
}

/**
 * Keeps one link to Redis: opens it, replaces it with capped backoff when it fails, runs the
 * heartbeat on a timer, and treats a heartbeat echo that stops coming back as a failure.
 */
export class LinkKeeper {
  #link?: Link;
  #generation = 0;
  #closed = false;
  #reconnecting = false;
  #timer?: ReturnType<typeof setInterval>;
  #lastFull = 0;
  #lastEcho = 0;
  #beating = false;
  /** Set when Redis turned out to have lost this node: the next heartbeat writes presence too. */
  #resync = false;
  /** The link a PING is checking after a timeout, if any. */
  #probing?: Link;

  constructor(private readonly o: KeeperOptions) {}

  /** Connects (or, when Redis is unreachable, starts retrying) and starts the heartbeat. */
  async start(): Promise<void> {
    try {
      await this.#open();
    } catch (err) {
      this.#lost(this.#generation, `cannot connect: ${String(err)}`);
    }
    this.#timer = setInterval(() => this.#tick(), Math.min(DIFF_EVERY_MS, this.o.fullEveryMs));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#link?.close();
    this.#link = undefined;
  }

  up(): boolean {
    return this.#link !== undefined;
  }

  /** This node's own heartbeat came back on the channel. */
  echo(): void {
    this.#lastEcho = Date.now();
  }

  /**
   * Runs `work` on the current link within the command timeout, or rejects with `unavailable`:
   * at once when there is no link; on a transport failure, which also replaces the link; on a
   * timeout, which only starts a PING check of the link (`#slow`). `counted` counts the
   * refusal in `stats.unavailable`; `late` gets the answer of work that timed out but then
   * succeeded after all.
   */
  async use(
    work: (link: Link) => Promise<unknown>,
    what: string,
    counted = false,
    late?: (answer: unknown) => void,
  ): Promise<unknown> {
    const link = this.#link;
    const generation = this.#generation;
    if (!link) {
      if (counted) this.o.stats.unavailable++;
      throw new EdgepushError(ErrorCode.unavailable, "redis is unreachable");
    }
    const answer = work(link);
    try {
      return await within(answer, COMMAND_TIMEOUT_MS, what);
    } catch (err) {
      if (!(err instanceof LinkError)) {
        // Redis answered but refuses to work for now (out of memory, loading, a read-only
        // replica, a busy script): unavailable, not an internal fault.
        const reply = String((err as Error)?.message ?? err).replace(/^Command failed: /, "");
        if (!/^(OOM|LOADING|READONLY|BUSY|MASTERDOWN|TRYAGAIN)\b/.test(reply)) throw err;
        if (counted) this.o.stats.unavailable++;
        throw new EdgepushError(ErrorCode.unavailable, `redis refused ${what}: ${reply}`);
      }
      if (counted) this.o.stats.unavailable++;
      if (!(err instanceof LinkTimeout)) {
        this.#lost(generation, err.message);
        throw new EdgepushError(ErrorCode.unavailable, "redis is unreachable");
      }
      // A failure after the timeout is the link's to report (its `lost` event, or the PING).
      if (late) answer.then(late, () => undefined);
      this.#slow(link, generation, err.message);
      throw new EdgepushError(ErrorCode.unavailable, `redis did not answer ${what} in time`);
    }
  }

  async #open(): Promise<void> {
    const generation = ++this.#generation;
    const events = {
      message: this.o.message,
      lost: (reason: string) => this.#lost(generation, reason),
    };
    const link = await this.o.transport.open(this.o.channel, events, this.o.name);
    if (this.#closed || generation !== this.#generation) {
      link.close();
      return;
    }
    try {
      await this.#beat(link, "full", true);
    } catch (err) {
      link.close();
      throw err;
    }
    this.#link = link;
    this.#lastEcho = Date.now();
    this.o.status(true);
  }

  /**
   * A request on the link went unanswered for the command timeout. A busy Redis or a busy
   * node delays answers on a healthy connection, so this alone changes nothing: one PING at a
   * time checks the link, and only a PING unanswered within PROBE_TIMEOUT_MS (or a transport
   * failure) replaces it. Meanwhile each request keeps its own timeout.
   */
  #slow(link: Link, generation: number, reason: string): void {
    this.o.stats.timeouts++;
    if (link !== this.#link || this.#probing === link) return;
    this.#probing = link;
    void this.#probe(link, generation, reason);
  }

  async #probe(link: Link, generation: number, reason: string): Promise<void> {
    const { kind, transport, log, stats } = this.o;
    const timeouts = stats.timeouts;
    const started = Date.now();
    log.warn("redis slow", { broker: kind, target: transport.target, reason });
    try {
      await within(link.command(["PING"]), PROBE_TIMEOUT_MS, "PING");
    } catch (err) {
      // An error reply (BUSY, LOADING) is Redis answering: the connection is alive.
      if (err instanceof LinkError) {
        this.#lost(generation, `${reason}; then ${err.message}`);
        return;
      }
    } finally {
      if (this.#probing === link) this.#probing = undefined;
    }
    const pingMs = Date.now() - started;
    log.info("redis answered", { broker: kind, pingMs, timeouts: stats.timeouts - timeouts + 1 });
  }

  #lost(generation: number, reason: string): void {
    if (this.#closed || generation !== this.#generation || this.#reconnecting) return;
    const wasUp = this.#link !== undefined;
    this.#link?.close();
    this.#link = undefined;
    this.o.stats.outages++;
    const target = this.o.transport.target;
    this.o.log.warn("redis unreachable", { broker: this.o.kind, target, reason });
    if (wasUp) this.o.status(false);
    this.#reconnect(Date.now());
  }

  async #reconnect(since: number): Promise<void> {
    this.#reconnecting = true;
    let delay = BACKOFF_MIN_MS;
    let attempts = 0;
    while (!this.#closed) {
      await Bun.sleep(delay * (0.75 + Math.random() / 2));
      if (this.#closed) break;
      attempts++;
      try {
        await this.#open();
        break;
      } catch (err) {
        this.o.log.debug("redis reconnect failed", { attempts, error: String(err) });
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      }
    }
    this.#reconnecting = false;
    if (this.#closed || !this.#link) return;
    const downMs = Date.now() - since;
    this.o.log.info("redis reachable again", { broker: this.o.kind, downMs, attempts });
    this.o.reconnected();
  }

  #tick(): void {
    const link = this.#link;
    if (!link || this.#beating) return;
    const now = Date.now();
    if (now - this.#lastEcho > 3 * this.o.fullEveryMs) {
      this.#lost(this.#generation, "own heartbeat not seen on the cluster channel");
      return;
    }
    const resync = this.#resync;
    const mode = resync || now - this.#lastFull >= this.o.fullEveryMs ? "full" : "diff";
    this.#beating = true;
    const generation = this.#generation;
    this.#beat(link, mode, resync)
      .catch((err: unknown) => {
        if (err instanceof LinkTimeout) this.#slow(link, generation, err.message);
        else if (err instanceof LinkError) this.#lost(generation, err.message);
        else this.o.log.error("heartbeat failed", { error: String(err) });
      })
      .finally(() => {
        this.#beating = false;
      });
  }

  async #beat(link: Link, mode: "full" | "diff", presence: boolean): Promise<void> {
    const built = this.o.heartbeat.args(mode, presence);
    if (!built) return;
    const script = link.script(heartbeatScript, [], built.argv);
    const reply = await within(script, COMMAND_TIMEOUT_MS, "heartbeat");
    const [removedReply, listed] = Array.isArray(reply) ? reply : [reply, 1];
    const removed = Number(removedReply);
    this.o.heartbeat.written(built.snapshot);
    if (presence) this.#resync = false;
    else if (Number(listed) === 0) {
      // Redis no longer knew this node (it lost its data, or the node's entry expired): the
      // next heartbeat writes presence in full again, as after a reconnect.
      this.#resync = true;
      this.o.log.warn("redis had lost this node's state; writing it in full", {
        broker: this.o.kind,
      });
    }
    this.o.stats.heartbeats++;
    if (mode === "full") {
      this.#lastFull = Date.now();
      this.o.full();
    }
    if (removed > 0) {
      this.o.stats.nodesRemoved += removed;
      this.o.log.info("dead nodes removed", { count: removed });
    }
  }
}
