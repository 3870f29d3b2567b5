import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Frame, TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { startUpstashGateway, type UpstashGateway } from "../support/upstash-gateway.ts";
import { until } from "../support/wait.ts";
import { clusterEnv } from "./harness.ts";

/** Presence TTL of the suite's nodes: a killed node must drop out within this. */
const TTL_SECONDS = 3;

const kinds = ["redis", "upstash"] as const;

describe.each(kinds)("a three-node cluster over %s", (kind) => {
  let redis: RedisServer;
  let gateway: UpstashGateway | undefined;
  let dir: string;
  let a: NodeProcess;
  let b: NodeProcess;
  let c: NodeProcess;
  const clients: TestClient[] = [];
  const extra: NodeProcess[] = [];

  const launch = (id: string) =>
    spawnNode({
      config: `broker:\n  presenceTtlSeconds: ${TTL_SECONDS}\n`,
      env: clusterEnv(kind, redis, gateway, join(dir, "history.db"), id),
    });

  const connect = async (node: NodeProcess, user: string) => {
    const client = await TestClient.connect(node.ws, user);
    clients.push(client);
    return client;
  };

  const subscribe = async (client: TestClient, room: string, extraFields: Frame = {}) => {
    const reply = await client.request({ type: "subscribe", room, ...extraFields });
    expect(reply.type).toBe("subscribed");
    return reply;
  };

  const publish = async (node: NodeProcess, room: string, data: unknown) => {
    const res = await node.api("/v1/publish", { body: { room, data } });
    return { status: res.status, body: (await res.json()) as Frame };
  };

  const json = async (node: NodeProcess, path: string) =>
    (await (await node.api(path)).json()) as Frame;

  const messagesOf = (client: TestClient, room: string) =>
    client.all((f) => f.type === "message" && f.room === room);

  beforeAll(async () => {
    redis = await startRedis();
    gateway = kind === "upstash" ? startUpstashGateway(redis.url) : undefined;
    dir = mkdtempSync(join(tmpdir(), "edgepush-cluster-"));
    // One after another: the first node creates the shared database's tables.
    a = await launch("a");
    b = await launch("b");
    c = await launch("c");
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all([a, b, c, ...extra].map((n) => n?.stop()));
    await gateway?.stop();
    await redis?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("a publish on one node reaches clients on every node with the same offsets", async () => {
    const room = "chat:fanout";
    const subs = await Promise.all([a, b, c].map((n, i) => connect(n, `fan${i}`)));
    for (const s of subs) await subscribe(s, room);
    const acks: Frame[] = [];
    for (let i = 0; i < 5; i++) acks.push((await publish(a, room, { i })).body);
    acks.push(await subs[1]!.request({ type: "publish", room, data: { i: 5 } }));
    expect(acks.map((x) => x.offset)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const s of subs) {
      const got = await s.take(6, (f) => f.type === "message" && f.room === room);
      expect(got.map((m) => [m.offset, m.epoch, m.data.i])).toEqual(
        acks.map((ack, i) => [ack.offset, ack.epoch, i]),
      );
    }
  }, 30_000);

  test("a direct message reaches a user connected to two nodes", async () => {
    const onA = await connect(a, "bob");
    const onC = await connect(c, "bob");
    const res = await b.api("/v1/send", { body: { to: "bob", data: { text: "psst" } } });
    const ack = (await res.json()) as Frame;
    expect(ack.room).toBe("@bob");
    for (const conn of [onA, onC]) {
      const m = await conn.next((f) => f.type === "message" && f.room === "@bob");
      expect(m).toMatchObject({ offset: ack.offset, epoch: ack.epoch, data: { text: "psst" } });
    }
  }, 30_000);

  test("disconnecting a user closes its connections on every node", async () => {
    const onA = await connect(a, "eve");
    const onB = await connect(b, "eve");
    await until(async () => (await json(c, "/v1/users/eve")).connections === 2, {
      what: "eve's two connections in the cluster view",
    });
    const res = await c.api("/v1/users/eve/disconnect", { body: {} });
    expect(await res.json()).toEqual({ disconnected: 2 });
    expect((await onA.closed).code).toBe(4003);
    expect((await onB.closed).code).toBe(4003);
  }, 30_000);

  test("presence and online users agree across nodes", async () => {
    const room = "chat:agree";
    const alice = await connect(a, "alice-p");
    await subscribe(alice, room, { presence: true });
    const carol = await connect(b, "carol-p");
    await subscribe(carol, room, { presence: true });
    const join = await alice.next((f) => f.type === "join" && f.room === room);
    expect(join.user).toBe("carol-p");
    for (const node of [a, b, c]) {
      const p = await json(node, `/v1/rooms/${encodeURIComponent(room)}/presence`);
      expect(p.users).toEqual(["alice-p", "carol-p"]);
    }
    const users = async (node: NodeProcess) =>
      JSON.stringify(
        ((await json(node, "/v1/users?limit=1000")).users as Frame[]).filter((u) =>
          u.user.endsWith("-p"),
        ),
      );
    const expected = JSON.stringify([
      { user: "alice-p", connections: 1 },
      { user: "carol-p", connections: 1 },
    ]);
    for (const node of [a, b, c]) {
      await until(async () => (await users(node)) === expected, {
        what: "users to agree",
        timeoutMs: 5000,
      });
    }
    carol.close();
    const leave = await alice.next((f) => f.type === "leave" && f.room === room);
    expect(leave.user).toBe("carol-p");
  }, 30_000);

  test("a node killed with kill -9 drops out of /v1/users and /v1/nodes within its TTL", async () => {
    const d = await launch("d");
    extra.push(d);
    await connect(d, "dora");
    const present = async () => {
      const users = (await json(a, "/v1/users?limit=1000")).users as Frame[];
      const nodes = (await json(a, "/v1/nodes")).nodes as Frame[];
      return users.some((u) => u.user === "dora") && nodes.some((n) => n.node === "d");
    };
    await until(present, { what: "dora and d in the listings", timeoutMs: 5000 });
    const nodes = (await json(a, "/v1/nodes")).nodes as Frame[];
    expect(nodes.find((n) => n.node === "d")).toMatchObject({ region: "r-d", connections: 1 });
    const killedAt = Date.now();
    await d.kill();
    await until(async () => !(await present()), {
      what: "d to drop out",
      timeoutMs: TTL_SECONDS * 1000 + 3000,
    });
    expect(Date.now() - killedAt).toBeLessThan(TTL_SECONDS * 1000 + 1500);
    const left = (await json(b, "/v1/nodes")).nodes as Frame[];
    expect(left.map((n) => n.node).sort()).toEqual(["a", "b", "c"]);
  }, 30_000);

  test("a node stopped with SIGTERM leaves the listings and presence before it exits", async () => {
    const e = await launch("e");
    const watcher = await connect(a, "watcher");
    await subscribe(watcher, "chat:bye", { presence: true });
    const erin = await connect(e, "erin");
    await subscribe(erin, "chat:bye", { presence: true });
    await watcher.next((f) => f.type === "join" && f.user === "erin");
    expect(await e.stop("SIGTERM")).toBe(0);
    // Right after the process ended, not after the presence TTL.
    const nodes = (await json(a, "/v1/nodes")).nodes as Frame[];
    expect(nodes.map((n) => n.node)).not.toContain("e");
    const users = (await json(a, "/v1/users?limit=1000")).users as Frame[];
    expect(users.map((u) => u.user)).not.toContain("erin");
    expect((await json(a, "/v1/rooms/chat:bye/presence")).users).toEqual(["watcher"]);
    await watcher.next((f) => f.type === "leave" && f.user === "erin");
  });

  test("Redis restarted mid-run: clients get every acknowledged message once, offsets continue", async () => {
    const room = "chat:restart";
    const subs = await Promise.all([a, b, c].map((n, i) => connect(n, `rs${i}`)));
    for (const s of subs) await subscribe(s, room);
    const acked: Frame[] = [];
    const send = async (node: NodeProcess, i: number) => {
      const r = await publish(node, room, { i });
      if (r.status === 200) acked.push(r.body);
      else expect(r.body.error.code).toBe("unavailable");
    };
    for (let i = 0; i < 10; i++) await send([a, b, c][i % 3]!, i);
    // Redis loses everything; the history store must hold the offsets to seed them again.
    for (const node of [a, b, c]) {
      const written = async () =>
        /^edgepush_history_pending 0$/m.test(await (await node.api("/metrics")).text());
      await until(written, { what: "history written" });
    }
    const leaver = await connect(b, "rs-leaver");
    const lastSeen = await subscribe(leaver, room);
    expect(lastSeen.offset).toBe(10);
    await redis.kill();
    try {
      leaver.close();
      await leaver.closed;
      for (let i = 10; i < 13; i++) await send(a, i);
    } finally {
      await redis.start();
    }
    for (const node of [a, b, c]) {
      await until(async () => (await node.api("/v1/ready")).status === 200, {
        what: "ready again",
      });
    }
    // The outage is counted once per node, and node a's refused publishes too.
    const metricsOf = async (node: NodeProcess) => await (await node.api("/metrics")).text();
    for (const node of [a, b, c]) {
      expect(await metricsOf(node)).toMatch(/^edgepush_broker_outages_total [1-9]\d*$/m);
    }
    expect(await metricsOf(a)).toMatch(/^edgepush_broker_unavailable_total [1-9]\d*$/m);
    for (let i = 13; i < 23; i++) await send([a, b, c][i % 3]!, i);
    expect(acked.length).toBe(20);
    const offsets = acked.map((x) => x.offset);
    expect(offsets).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(acked.map((x) => x.epoch)).size).toBe(1);
    for (const s of subs) {
      await until(() => messagesOf(s, room).length >= 20, { what: "every message at each client" });
      expect(messagesOf(s, room).map((m) => m.offset)).toEqual(offsets);
    }
    // A client that left during the outage comes back elsewhere and recovers the rest, once.
    const back = await connect(c, "rs-leaver");
    const reply = await subscribe(back, room, {
      since: { offset: lastSeen.offset, epoch: lastSeen.epoch },
    });
    expect(reply).toMatchObject({ recovered: true, offset: 20 });
    const rest = await back.take(10, (f) => f.type === "message" && f.room === room);
    expect(rest.map((m) => m.offset)).toEqual(offsets.slice(10));
  }, 60_000);

  test("a room's first messages, published on two nodes at once, all reach a subscriber in order", async () => {
    const reader = await connect(a, "first-reader");
    const rooms = Array.from({ length: 30 }, (_, i) => `fresh:r${i}`);
    for (const room of rooms) await subscribe(reader, room);
    for (const room of rooms) {
      const acks = await Promise.all([publish(a, room, "a"), publish(b, room, "b")]);
      expect(acks.map((x) => x.body.offset).sort()).toEqual([1, 2]);
    }
    for (const room of rooms) {
      await until(() => messagesOf(reader, room).length >= 2, { what: `both messages of ${room}` });
      expect(messagesOf(reader, room).map((m) => m.offset)).toEqual([1, 2]);
    }
  });

  test("joining with since while other nodes publish gives each offset once", async () => {
    const room = "busy:since";
    let sending = true;
    const senders = [a, c].map(async (node) => {
      for (let i = 0; sending && i < 3000; i++) await publish(node, room, i);
    });
    try {
      await until(
        async () => (await json(b, `/v1/rooms/${room}/history?limit=1`)).messages.length > 0,
        {
          what: "the first publishes",
        },
      );
      for (let round = 0; round < 15; round++) {
        const page = await json(b, `/v1/rooms/${room}/history?limit=1`);
        const latest = page.messages[0];
        const joiner = await connect([b, c][round % 2]!, `since-${round}`);
        const reply = await subscribe(joiner, room, {
          since: { offset: Math.max(0, latest.offset - 3), epoch: page.epoch },
        });
        expect(reply.recovered).toBe(true);
        const until_ = reply.offset + 5;
        await until(() => messagesOf(joiner, room).some((m) => m.offset >= until_), {
          what: "messages past the join",
        });
        const got = messagesOf(joiner, room).map((m) => m.offset);
        const start = Math.max(0, latest.offset - 3) + 1;
        expect(got.slice(0, until_ - start + 1)).toEqual(
          Array.from({ length: until_ - start + 1 }, (_, i) => start + i),
        );
        joiner.close();
      }
    } finally {
      sending = false;
      await Promise.all(senders);
    }
  }, 60_000);

  test("connected is the first frame even while broadcasts flow", async () => {
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending && i < 2000; i++) {
        await a.api("/v1/broadcast", { body: { data: i } });
      }
    })();
    try {
      for (let round = 0; round < 5; round++) {
        const opened = await Promise.all(
          Array.from({ length: 10 }, (_, i) => connect([b, c][i % 2]!, `busy-${round}-${i}`)),
        );
        for (const client of opened) client.close();
      }
    } finally {
      sending = false;
      await sender;
    }
  });

  test("a client moved from one node to another recovers exactly what it missed", async () => {
    const room = "chat:move";
    const first = await connect(a, "mover");
    await subscribe(first, room);
    for (let i = 0; i < 3; i++) await publish(c, room, { i });
    const seen = await first.take(3, (f) => f.type === "message" && f.room === room);
    first.close();
    await first.closed;
    for (let i = 3; i < 6; i++) await publish(c, room, { i });
    const last = seen[2]!;
    const second = await connect(b, "mover");
    const reply = await subscribe(second, room, {
      since: { offset: last.offset, epoch: last.epoch },
    });
    expect(reply).toMatchObject({ recovered: true, offset: 6 });
    await publish(a, room, { i: 6 });
    const rest = await second.take(4, (f) => f.type === "message" && f.room === room);
    expect(rest.map((m) => [m.offset, m.data.i])).toEqual([
      [4, 3],
      [5, 4],
      [6, 5],
      [7, 6],
    ]);
  }, 30_000);
});
