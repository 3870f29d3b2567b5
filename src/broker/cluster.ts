import type { Config } from "../../config/schema.ts";
import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import type { Message, Position } from "../protocol/frames.ts";
import { BROADCAST_ROOM, inboxOf } from "../rooms/names.ts";
import { entryMessage, pairs, sumCounts } from "./decode.ts";
import { Heartbeat } from "./heartbeat.ts";
import { LinkKeeper } from "./keeper.ts";
import type { Link, Transport } from "./link.ts";
import { pageOf } from "./page.ts";
import {
  goodbyeScript,
  joinScript,
  leaveScript,
  othersScript,
  presenceScript,
  publishScript,
  recentScript,
  type Script,
  seedScript,
  userScript,
} from "./scripts.ts";
import { type ClusterStats, newStats } from "./stats.ts";
import type {
  Broker,
  BrokerContext,
  NodeInfo,
  Page,
  PresenceEvent,
  PublishInput,
} from "./types.ts";

/** A publish that finds no sequence seeds it from the store and retries this many times. */
const SEED_ATTEMPTS = 3;

/** What travels on the cluster channel. */
type Envelope =
  | { k: "m"; n: string; m: Message }
  | { k: "p"; n: string; e: PresenceEvent }
  | { k: "d"; n: string; user: string; code: number; reason: string }
  | { k: "h"; n: string };

/**
 * The broker of a cluster whose nodes share one Redis, over any `Transport`: offsets, hot
 * history, the cluster channel, presence and node records. `redis` and `upstash` differ only
 * in their transport. README.md beside this file describes the keys and scripts.
 */
export class ClusterBroker implements Broker {
  #ctx?: BrokerContext;
  #keeper?: LinkKeeper;
  /** The latest position this node saw per room, to catch up after reconnecting. */
  readonly #known = new Map<string, Position>();
  readonly #stats = newStats();

  constructor(
    readonly kind: "redis" | "upstash",
    private readonly transportFor: (config: Config) => Transport,
  ) {}

  async start(ctx: BrokerContext): Promise<void> {
    this.#ctx = ctx;
    const { presenceTtlSeconds } = ctx.config.broker;
    const heartbeat = new Heartbeat(
      {
        prefix: this.#prefix(),
        channel: this.#channel(),
        node: ctx.node,
        region: ctx.region,
        startedAt: ctx.startedAt,
        ttlSeconds: presenceTtlSeconds,
      },
      ctx.local,
    );
    this.#keeper = new LinkKeeper({
      kind: this.kind,
      transport: this.transportFor(ctx.config),
      channel: this.#channel(),
      name: ctx.node.replace(/[^\w.:-]/g, "_"),
      heartbeat,
      fullEveryMs: (presenceTtlSeconds * 1000) / 3,
      log: ctx.log,
      stats: this.#stats,
      message: (payload) => this.#receive(payload),
      status: (up) => ctx.sink.status(up),
      reconnected: () => {
        this.#catchUp().catch((err: unknown) => {
          ctx.log.warn("catch-up after reconnect failed", { error: String(err) });
        });
      },
      full: () => this.#forgetQuietRooms(),
    });
    await this.#keeper.start();
  }

  /**
   * Leaves the cluster: removes this node's records from Redis and announces its users'
   * leaves at once (a clean stop), then closes the links. Without Redis the records expire
   * with the presence TTL, as after a crash.
   */
  async close(): Promise<void> {
    if (this.#keeper && this.up()) {
      const args = [this.#prefix(), this.#channel(), this.#context().node];
      await this.#run(goodbyeScript, [], args).catch((err: unknown) => {
        this.#context().log.warn("could not leave the cluster cleanly", { error: String(err) });
      });
    }
    this.#keeper?.close();
  }

  up(): boolean {
    return this.#keeper?.up() ?? false;
  }

  /** Counters since start, as plain numbers. */
  stats(): ClusterStats {
    return { ...this.#stats, up: this.up() ? 1 : 0 };
  }

  async publish(input: PublishInput): Promise<Message> {
    const ctx = this.#context();
    const { room } = input;
    const hasFrom = input.from !== undefined;
    const data = JSON.stringify(input.data === undefined ? null : input.data);
    const argv = [
      this.#prefix(),
      this.#channel(),
      ctx.node,
      room,
      hasFrom ? "1" : "0",
      input.from ?? "",
      data,
      String(ctx.config.broker.hotHistorySize),
    ];
    const late = (answer: unknown) => this.#late(input, answer);
    for (let attempt = 0; attempt < SEED_ATTEMPTS; attempt++) {
      const r = await this.#run(publishScript, this.#roomKeys(room), argv, true, late);
      const message = this.#assigned(input, r);
      if (message) {
        this.#see(message);
        this.#stats.published++;
        return message;
      }
      await this.#seed(room);
    }
    throw new EdgepushError(ErrorCode.internal, `sequence of "${room}" could not be seeded`);
  }

  /** The message a publish script's answer assigned, or undefined when it needs a seed. */
  #assigned(input: PublishInput, answer: unknown): Message | undefined {
    const r = answer as unknown[];
    if (r[0] !== 1) return undefined;
    const message: Message = {
      room: input.room,
      offset: Number(r[1]),
      epoch: String(r[2]),
      data: input.data === undefined ? null : input.data,
      ts: Number(r[3]),
    };
    if (input.from !== undefined) message.from = input.from;
    return message;
  }

  /**
   * A publish whose caller got `unavailable` (timeout) was assigned after all. Other nodes
   * deliver it from the channel, where this node skips its own messages, so this node delivers
   * it here and queues it for the history store, as its caller would have.
   */
  #late(input: PublishInput, answer: unknown): void {
    const message = this.#assigned(input, answer);
    if (!message) return;
    const ctx = this.#context();
    this.#see(message);
    this.#stats.late++;
    ctx.log.info("late publish delivered", { room: message.room, offset: message.offset });
    ctx.sink.message(message);
    ctx.store.append(message);
  }

  async position(room: string): Promise<Position> {
    for (let attempt = 0; attempt < SEED_ATTEMPTS; attempt++) {
      const [seq, epoch] = (await this.#command([
        "HMGET",
        this.#roomKeys(room)[0],
        "seq",
        "epoch",
      ])) as [unknown, unknown];
      if (typeof epoch === "string" && epoch) {
        const pos = { offset: Number(seq), epoch };
        this.#see(pos, room);
        return pos;
      }
      await this.#seed(room);
    }
    throw new EdgepushError(ErrorCode.internal, `sequence of "${room}" could not be seeded`);
  }

  async recent(room: string, after: number, limit: number): Promise<Message[] | undefined> {
    if (limit <= 0) return [];
    let r: unknown[];
    try {
      r = (await this.#run(recentScript, this.#roomKeys(room), [
        String(after),
        String(limit),
      ])) as unknown[];
    } catch (err) {
      if (err instanceof EdgepushError && err.code === ErrorCode.unavailable) return undefined;
      throw err;
    }
    if (r[0] !== 1) return undefined;
    const epoch = String(r[1]);
    const latest = Number(r[2]);
    const entries = Array.isArray(r[3]) ? r[3] : [];
    const messages = entries.map((e) => entryMessage(room, epoch, e));
    if (messages.length === 0) return after >= latest ? [] : undefined;
    if (messages[0]?.offset !== after + 1) return undefined;
    this.#see(messages[messages.length - 1] as Message);
    return messages;
  }

  async join(room: string, user: string): Promise<void> {
    await this.#presenceChange(joinScript, room, user);
  }

  async leave(room: string, user: string): Promise<void> {
    await this.#presenceChange(leaveScript, room, user);
  }

  async presence(room: string): Promise<string[]> {
    const found = (await this.#run(presenceScript, [], [this.#prefix(), room])) as unknown[];
    const users = new Set(found.map(String));
    for (const user of this.#context().local.presence(room)) users.add(user);
    return [...users].sort();
  }

  async users(
    limit: number,
    cursor?: string,
  ): Promise<Page<{ user: string; connections: number }>> {
    const counts = await this.#merged("nu", this.#context().local.users());
    return pageOf([...counts], limit, cursor, (user, connections) => ({ user, connections }));
  }

  async user(user: string): Promise<{ user: string; online: boolean; connections: number }> {
    const ctx = this.#context();
    const others = Number(await this.#run(userScript, [], [this.#prefix(), ctx.node, user]));
    const connections = others + (ctx.local.users().get(user) ?? 0);
    return { user, online: connections > 0, connections };
  }

  async rooms(
    limit: number,
    cursor?: string,
  ): Promise<Page<{ room: string; subscribers: number }>> {
    const counts = await this.#merged("nr", this.#context().local.rooms());
    return pageOf([...counts], limit, cursor, (room, subscribers) => ({ room, subscribers }));
  }

  async nodes(): Promise<NodeInfo[]> {
    const ctx = this.#context();
    const lists = (await this.#run(
      othersScript,
      [],
      [this.#prefix(), ctx.node, "node"],
    )) as unknown[];
    const own: NodeInfo = {
      node: ctx.node,
      region: ctx.region,
      connections: ctx.local.connections(),
      startedAt: ctx.startedAt,
    };
    const others = lists.map((list) => {
      const f = Object.fromEntries(pairs(list));
      return {
        node: f.node ?? "",
        region: f.region ?? "",
        connections: Number(f.connections ?? 0),
        startedAt: f.startedAt ?? "",
      };
    });
    return [own, ...others.filter((n) => n.node)].sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  /**
   * Counts the user's connections on the other live nodes (their last heartbeat), publishes the
   * disconnect for them to act on, and closes this node's own connections at once.
   */
  async disconnect(user: string, code: number, reason: string): Promise<number> {
    const ctx = this.#context();
    const others = Number(await this.#run(userScript, [], [this.#prefix(), ctx.node, user]));
    const envelope: Envelope = { k: "d", n: ctx.node, user, code, reason };
    await this.#command(["PUBLISH", this.#channel(), JSON.stringify(envelope)]);
    return others + ctx.local.disconnect(user, code, reason);
  }

  /** Hands over what was published while the link was down, for rooms this node serves. */
  async #catchUp(): Promise<void> {
    const ctx = this.#context();
    for (const room of this.#servedRooms()) {
      const known = this.#known.get(room);
      if (!known) continue;
      const latest = await this.position(room);
      if (latest.epoch !== known.epoch || latest.offset <= known.offset) continue;
      const count = latest.offset - known.offset;
      const limit = Math.min(count, ctx.config.broker.hotHistorySize);
      const missed =
        (await this.recent(room, known.offset, limit)) ??
        (await ctx.store.read(room, { since: known.offset, limit }));
      for (const m of missed) ctx.sink.message(m);
      this.#stats.caughtUp += missed.length;
    }
  }

  // Channel.

  #receive(payload: string): void {
    const ctx = this.#context();
    let env: Envelope;
    try {
      env = JSON.parse(payload) as Envelope;
    } catch {
      if (this.#stats.malformed++ === 0) ctx.log.warn("unreadable cluster message", { payload });
      return;
    }
    switch (env.k) {
      case "m":
        if (env.n === ctx.node) return;
        this.#stats.received++;
        this.#see(env.m);
        ctx.sink.message(env.m);
        return;
      case "p":
        ctx.sink.presence(env.e);
        return;
      case "d":
        if (env.n !== ctx.node) ctx.local.disconnect(env.user, env.code, env.reason);
        return;
      case "h":
        if (env.n === ctx.node) this.#keeper?.echo();
        return;
    }
  }

  // Helpers.

  async #seed(room: string): Promise<void> {
    const stored = await this.#context().store.room(room);
    const seeded = await this.#run(seedScript, this.#roomKeys(room), [
      String(stored.offset),
      stored.epoch,
    ]);
    if (Number(seeded) === 1) {
      this.#stats.seeded++;
      this.#context().log.debug("room sequence seeded", { room, ...stored });
    }
  }

  async #presenceChange(script: Script, room: string, user: string): Promise<void> {
    // While Redis is unreachable, the heartbeat after reconnecting writes presence in full.
    if (!this.up()) return;
    await this.#run(
      script,
      [],
      [this.#prefix(), this.#channel(), this.#context().node, room, user],
    );
  }

  async #merged(kind: "nu" | "nr", local: Map<string, number>): Promise<Map<string, number>> {
    const lists = await this.#run(othersScript, [], [this.#prefix(), this.#context().node, kind]);
    return sumCounts(lists, new Map(local));
  }

  /** Runs a script on the current link; an unreachable or slow Redis becomes `unavailable`. */
  #run(
    script: Script,
    keys: string[],
    args: string[],
    counted = false,
    late?: (answer: unknown) => void,
  ): Promise<unknown> {
    const work = (link: Link) => link.script(script, keys, args);
    return this.#links().use(work, script.name, counted, late);
  }

  #command(args: string[]): Promise<unknown> {
    return this.#links().use((link: Link) => link.command(args), args[0] ?? "command");
  }

  #links(): LinkKeeper {
    if (!this.#keeper) throw new Error(`${this.kind} broker used before start()`);
    return this.#keeper;
  }

  #see(pos: Position, room?: string): void {
    const key = room ?? (pos as Message).room;
    const known = this.#known.get(key);
    if (!known || known.epoch !== pos.epoch || known.offset < pos.offset) {
      this.#known.set(key, { offset: pos.offset, epoch: pos.epoch });
    }
  }

  /** Rooms whose messages this node delivers: subscribed rooms, inboxes, broadcast. */
  #servedRooms(): Set<string> {
    const local = this.#context().local;
    const rooms = new Set(local.rooms().keys());
    for (const user of local.users().keys()) rooms.add(inboxOf(user));
    rooms.add(BROADCAST_ROOM);
    return rooms;
  }

  #forgetQuietRooms(): void {
    const served = this.#servedRooms();
    for (const room of this.#known.keys()) if (!served.has(room)) this.#known.delete(room);
  }

  #roomKeys(room: string): [string, string] {
    return [`${this.#prefix()}seq:${room}`, `${this.#prefix()}hist:${room}`];
  }

  #prefix(): string {
    return this.#context().config.broker.prefix;
  }

  #channel(): string {
    return `${this.#prefix()}cluster`;
  }

  #context(): BrokerContext {
    if (!this.#ctx) throw new Error(`${this.kind} broker used before start()`);
    return this.#ctx;
  }
}
export type { ClusterStats } from "./stats.ts";
