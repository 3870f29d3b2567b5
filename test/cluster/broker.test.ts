import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { EdgepushError } from "../../src/protocol/codes.ts";
import { startRedis } from "../support/redis.ts";
import { startUpstashGateway } from "../support/upstash-gateway.ts";
import { until } from "../support/wait.ts";
import {
  type Backend,
  historyDir,
  type Kind,
  startNode,
  stopNode,
  type TestNode,
} from "./harness.ts";

const kinds: Kind[] = ["redis", "upstash"];

describe.each(kinds)("%s broker against a real Redis", (kind) => {
  let backend: Backend;
  let history: ReturnType<typeof historyDir>;
  const started: TestNode[] = [];

  const node = async (id: string, broker = {}) => {
    const n = await startNode(backend, id, history.url, broker);
    started.push(n);
    return n;
  };

  /** A raw connection to the Redis behind the broker, for inspection and fault injection. */
  const raw = async (args: string[]) => {
    const client = new RedisClient(backend.redis.url);
    try {
      return await client.send(args[0] as string, args.slice(1));
    } finally {
      client.close();
    }
  };

  /** Ends one node's subscription to the cluster channel, leaving its commands working. */
  const dropSubscription = async (id: string) => {
    if (backend.gateway) return backend.gateway.endStream(started.findIndex((n) => n.id === id));
    const list = String(await raw(["CLIENT", "LIST", "TYPE", "pubsub"]));
    const line = list.split("\n").find((l) => l.includes(`name=edgepush:${id}:sub`));
    const clientId = line?.match(/^id=(\d+)/)?.[1];
    if (!clientId) throw new Error(`no subscriber connection of ${id} in:\n${list}`);
    await raw(["CLIENT", "KILL", "ID", clientId]);
  };

  beforeAll(async () => {
    const redis = await startRedis();
    backend = {
      kind,
      redis,
      gateway: kind === "upstash" ? startUpstashGateway(redis.url) : undefined,
    };
  }, 30_000);

  afterEach(async () => {
    for (const n of started.splice(0)) await stopNode(n);
    history?.dispose();
    await raw(["FLUSHALL"]);
  }, 30_000);

  afterAll(async () => {
    await backend.gateway?.stop();
    await backend.redis.dispose();
  }, 30_000);

  const fresh = () => {
    history = historyDir();
  };

  test("concurrent publishes from two nodes get offsets 1..n, each once, in one epoch", async () => {
    fresh();
    const a = await node("a");
    const b = await node("b");
    const n = 100;
    const sent = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 ? a : b).broker.publish({ room: "race", data: { i } }),
      ),
    );
    const offsets = sent.map((m) => m.offset).sort((x, y) => x - y);
    expect(offsets).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(new Set(sent.map((m) => m.epoch)).size).toBe(1);
    // Each node hears the other's messages on the channel, never its own.
    await a.sink.when(() => a.sink.messages.length === n / 2, "a to hear b's messages");
    await b.sink.when(() => b.sink.messages.length === n / 2, "b to hear a's messages");
    const fromB = new Set(sent.filter((_, i) => i % 2 === 0).map((m) => m.offset));
    expect(a.sink.messages.every((m) => fromB.has(m.offset))).toBe(true);
    expect(b.sink.messages.every((m) => !fromB.has(m.offset))).toBe(true);
  }, 20_000);

  test("a message carries its publisher, data and a Redis timestamp; position follows", async () => {
    fresh();
    const a = await node("a");
    const before = Date.now();
    const m = await a.broker.publish({
      room: "chat:x",
      from: "alice",
      data: { text: "hi", n: [1, 2] },
    });
    expect(m).toMatchObject({
      room: "chat:x",
      offset: 1,
      from: "alice",
      data: { text: "hi", n: [1, 2] },
    });
    expect(m.ts).toBeGreaterThanOrEqual(before - 1000);
    expect(m.ts).toBeLessThanOrEqual(Date.now() + 1000);
    const server = await a.broker.publish({ room: "chat:x", data: null });
    expect(server.from).toBeUndefined();
    expect(await a.broker.position("chat:x")).toEqual({ offset: 2, epoch: m.epoch });
    expect(await a.broker.position("empty")).toMatchObject({ offset: 0 });
  }, 20_000);

  test("a new room continues from the history store's position and epoch", async () => {
    fresh();
    const a = await node("a");
    const stored = await a.store.room("kept");
    for (let i = 1; i <= 3; i++) {
      a.store.append({ room: "kept", offset: i, epoch: stored.epoch, data: i, ts: Date.now() });
    }
    await a.store.flush();
    const m = await a.broker.publish({ room: "kept", data: "next" });
    expect(m).toMatchObject({ offset: 4, epoch: stored.epoch });
    expect(a.broker.stats().seeded).toBe(1);
  }, 20_000);

  test("hot history keeps the newest messages; recent says when an offset is gone", async () => {
    fresh();
    const a = await node("a", { hotHistorySize: 5 });
    for (let i = 1; i <= 8; i++) await a.broker.publish({ room: "hot", from: "u", data: { i } });
    const recent = await a.broker.recent("hot", 3, 10);
    expect(recent?.map((m) => m.offset)).toEqual([4, 5, 6, 7, 8]);
    expect(recent?.[0]).toMatchObject({ room: "hot", from: "u", data: { i: 4 } });
    expect((await a.broker.recent("hot", 5, 2))?.map((m) => m.offset)).toEqual([6, 7]);
    expect(await a.broker.recent("hot", 2, 10)).toBeUndefined();
    expect(await a.broker.recent("hot", 8, 10)).toEqual([]);
    expect(await a.broker.recent("never", 0, 10)).toBeUndefined();
  }, 20_000);

  test("presence is cluster-wide: one join for the first connection, one leave for the last", async () => {
    fresh();
    const a = await node("a");
    const b = await node("b");
    a.local.enter("chat:p", "bob");
    await a.broker.join("chat:p", "bob");
    b.local.enter("chat:p", "bob");
    await b.broker.join("chat:p", "bob");
    b.local.enter("chat:p", "carol");
    await b.broker.join("chat:p", "carol");
    await a.sink.when(() => a.sink.events.length === 2, "two joins at a");
    await b.sink.when(() => b.sink.events.length === 2, "two joins at b");
    expect(a.sink.events).toEqual([
      { type: "join", room: "chat:p", user: "bob" },
      { type: "join", room: "chat:p", user: "carol" },
    ]);
    expect(await a.broker.presence("chat:p")).toEqual(["bob", "carol"]);
    expect(await b.broker.presence("chat:p")).toEqual(["bob", "carol"]);

    a.local.exit("chat:p", "bob");
    await a.broker.leave("chat:p", "bob");
    b.local.exit("chat:p", "bob");
    await b.broker.leave("chat:p", "bob");
    await a.sink.when(() => a.sink.events.length === 3, "one leave at a");
    expect(a.sink.events[2]).toEqual({ type: "leave", room: "chat:p", user: "bob" });
    expect(await a.broker.presence("chat:p")).toEqual(["carol"]);
  }, 20_000);

  test("after Redis loses its data, nodes write their presence again", async () => {
    fresh();
    const a = await node("a", { presenceTtlSeconds: 1 });
    const b = await node("b", { presenceTtlSeconds: 1 });
    a.local.enter("chat:lost", "ann");
    await a.broker.join("chat:lost", "ann");
    b.local.enter("chat:lost", "ben");
    await b.broker.join("chat:lost", "ben");
    expect(await b.broker.presence("chat:lost")).toEqual(["ann", "ben"]);
    await raw(["FLUSHALL"]);
    // Each node still answers with its own users; the other's come back with its heartbeat.
    await until(async () => (await b.broker.presence("chat:lost")).includes("ann"), {
      what: "ann written again by a",
    });
    await until(async () => (await a.broker.presence("chat:lost")).includes("ben"), {
      what: "ben written again by b",
    });
    a.local.exit("chat:lost", "ann");
    await a.broker.leave("chat:lost", "ann");
    await b.sink.when(
      () => b.sink.events.some((e) => e.type === "leave" && e.user === "ann"),
      "ann's leave at b",
    );
  }, 20_000);

  test("users, rooms and nodes merge every live node's records", async () => {
    fresh();
    const a = await node("a");
    const b = await node("b");
    a.local.connect("alice", 2);
    a.local.connect("bob");
    b.local.connect("bob", 3);
    b.local.enter("r1", "bob");
    // Counts reach Redis with the next heartbeat (at most a second later).
    const agreed = async () => {
      const page = await a.broker.users(10);
      return (
        JSON.stringify(page.items) ===
        JSON.stringify([
          { user: "alice", connections: 2 },
          { user: "bob", connections: 4 },
        ])
      );
    };
    await until(agreed, { timeoutMs: 5000, what: "both nodes' users in the listing" });
    expect(await b.broker.users(1)).toEqual({
      items: [{ user: "alice", connections: 2 }],
      cursor: "alice",
    });
    expect(await b.broker.users(1, "alice")).toEqual({ items: [{ user: "bob", connections: 4 }] });
    expect(await b.broker.user("bob")).toEqual({ user: "bob", online: true, connections: 4 });
    expect(await a.broker.user("nobody")).toEqual({
      user: "nobody",
      online: false,
      connections: 0,
    });
    expect((await a.broker.rooms(10)).items).toEqual([{ room: "r1", subscribers: 1 }]);
    const nodes = await b.broker.nodes();
    expect(nodes.map((n) => [n.node, n.region, n.connections])).toEqual([
      ["a", "test", 3],
      ["b", "test", 3],
    ]);
    expect(await a.broker.disconnect("bob", 4003, "bye")).toBe(4);
    await until(() => b.local.closed.length === 1, { what: "b to close bob's connections" });
    expect(b.local.closed).toEqual([{ user: "bob", code: 4003 }]);
    expect(a.local.closed).toEqual([{ user: "bob", code: 4003 }]);
  }, 20_000);

  test("a node that stops heartbeating drops out within its TTL, and its users leave", async () => {
    fresh();
    const a = await node("a", { presenceTtlSeconds: 2 });
    const b = await node("b", { presenceTtlSeconds: 2 });
    b.local.connect("dave");
    b.local.enter("chat:t", "dave");
    await b.broker.join("chat:t", "dave");
    await a.sink.when(() => a.sink.events.length === 1, "dave's join at a");
    expect((await a.broker.nodes()).map((n) => n.node)).toEqual(["a", "b"]);
    // close() stops the heartbeat and leaves the records in Redis, as kill -9 would.
    const gone = Date.now();
    await b.broker.close();
    await a.sink.when(() => a.sink.events.length === 2, "dave's leave at a", 6000);
    expect(Date.now() - gone).toBeLessThan(2000 + 1500);
    expect(a.sink.events[1]).toEqual({ type: "leave", room: "chat:t", user: "dave" });
    expect((await a.broker.nodes()).map((n) => n.node)).toEqual(["a"]);
    expect(await a.broker.presence("chat:t")).toEqual([]);
    expect(await a.broker.user("dave")).toMatchObject({ online: false });
  }, 20_000);

  test("Redis down: publish fails fast as unavailable, then the broker heals and offsets continue", async () => {
    fresh();
    const a = await node("a");
    const b = await node("b");
    const first = await a.broker.publish({ room: "heal", data: 1 });
    a.store.append(first);
    await a.store.flush();

    await backend.redis.kill();
    await a.sink.when(() => a.sink.statuses.includes(false), "a to notice");
    expect(a.broker.up()).toBe(false);
    const t0 = Date.now();
    const err = await a.broker.publish({ room: "heal", data: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgepushError);
    expect((err as EdgepushError).code).toBe("unavailable");
    expect(Date.now() - t0).toBeLessThan(500);
    expect(await a.broker.recent("heal", 0, 10)).toBeUndefined();

    await backend.redis.start();
    await a.sink.when(() => a.sink.statuses.at(-1) === true && a.broker.up(), "a to heal");
    await b.sink.when(() => b.sink.statuses.at(-1) === true && b.broker.up(), "b to heal");
    // Redis lost everything; the sequence is seeded again from the history store.
    const next = await b.broker.publish({ room: "heal", data: 3 });
    expect(next).toMatchObject({ offset: 2, epoch: first.epoch });
    await a.sink.when(
      () => a.sink.messages.some((m) => m.offset === 2),
      "a to hear b after healing",
    );
    expect(a.broker.stats()).toMatchObject({ outages: 1, unavailable: 1 });
  }, 20_000);

  test("Redis out of memory: publish answers unavailable, then works once memory is back", async () => {
    fresh();
    const a = await node("a");
    expect(await a.broker.publish({ room: "oom", data: 1 })).toMatchObject({ offset: 1 });
    await raw(["CONFIG", "SET", "maxmemory", "1"]);
    try {
      const err = await a.broker.publish({ room: "oom", data: 2 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EdgepushError);
      expect((err as EdgepushError).code).toBe("unavailable");
      expect((err as EdgepushError).message).toContain("OOM");
    } finally {
      await raw(["CONFIG", "SET", "maxmemory", "0"]);
    }
    expect(await a.broker.publish({ room: "oom", data: 3 })).toMatchObject({ offset: 2 });
    expect(a.broker.up()).toBe(true);
  });

  test("after its subscription drops, a node hands over what it missed in its rooms", async () => {
    fresh();
    const a = await node("a");
    const b = await node("b");
    a.local.enter("watched", "alice");
    await a.broker.position("watched");
    await b.broker.publish({ room: "watched", data: 1 });
    await a.sink.when(() => a.sink.messages.length === 1, "first message");

    await dropSubscription("a");
    await a.sink.when(() => a.sink.statuses.includes(false), "a to lose its subscription");
    for (let i = 2; i <= 4; i++) await b.broker.publish({ room: "watched", data: i });
    await a.sink.when(() => a.sink.statuses.at(-1) === true, "a to resubscribe");
    await a.sink.when(() => a.sink.messages.length >= 4, "a to get 2..4");
    expect([...new Set(a.sink.messages.map((m) => m.offset))].sort()).toEqual([1, 2, 3, 4]);
    // They came from the hot history after resubscribing, not from the channel.
    expect(a.broker.stats().caughtUp).toBe(3);
  });

  // The event stream and the REST link are Upstash's own; these have no TCP counterpart.
  if (kind === "upstash") {
    test("losing the network to Upstash reads as down, and the broker heals when it returns", async () => {
      fresh();
      const a = await node("a");
      await backend.gateway!.stop();
      await a.sink.when(() => a.sink.statuses.includes(false), "a to notice");
      const err = await a.broker.publish({ room: "net", data: 1 }).catch((e: unknown) => e);
      expect((err as EdgepushError).code).toBe("unavailable");
      backend.gateway!.start();
      await a.sink.when(() => a.sink.statuses.at(-1) === true, "a to heal");
      expect(await a.broker.publish({ room: "net", data: 2 })).toMatchObject({ offset: 1 });
    }, 20_000);

    test("an event stream that goes silent is noticed by the missing heartbeat echo and replaced", async () => {
      fresh();
      const a = await node("a", { presenceTtlSeconds: 1 });
      const b = await node("b", { presenceTtlSeconds: 1 });
      backend.gateway!.muteStream(0);
      await a.sink.when(() => a.sink.statuses.includes(false), "a to notice the stall", 5000);
      await a.sink.when(() => a.sink.statuses.at(-1) === true, "a to resubscribe");
      await b.broker.publish({ room: "stall", data: 1 });
      await a.sink.when(() => a.sink.messages.length === 1, "a to hear b again");
      expect(b.sink.statuses).toEqual([true]);
    }, 20_000);
  }
});
