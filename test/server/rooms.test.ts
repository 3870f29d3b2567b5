import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Frame, TestClient, tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { until } from "../support/wait.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
ws:
  pingSeconds: 1
namespaces:
  default:
    historySize: 100
  secret:
    subscribe: token
  news:
    publish: server
  quiet:
    presence: false
  tiny:
    historySize: 3
  brief:
    historySize: 1000
    historyTtlSeconds: 2
`,
  });
});
afterAll(() => node.kill());

const isMsg = (room: string) => (f: Frame) => f.type === "message" && f.room === room;

describe("rooms", () => {
  test("a subscriber receives what another client publishes, with the publisher as `from`", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    const b = await TestClient.connect(node.ws, "bob");
    const sub = await b.request({ type: "subscribe", room: "chat:lobby" });
    expect(sub).toMatchObject({ type: "subscribed", room: "chat:lobby", offset: 0 });
    expect(sub.recovered).toBeUndefined();
    const ack = await a.request({ type: "publish", room: "chat:lobby", data: { text: "hi" } });
    expect(ack).toEqual({
      type: "ack",
      id: ack.id,
      room: "chat:lobby",
      offset: 1,
      epoch: sub.epoch,
    });
    const m = await b.next(isMsg("chat:lobby"));
    expect(m).toMatchObject({ offset: 1, epoch: sub.epoch, from: "alice", data: { text: "hi" } });
    expect(m.ts).toBeGreaterThan(Date.now() - 10_000);
    a.close();
    b.close();
  });

  test("a publisher subscribed to the room receives its own message", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    await a.request({ type: "subscribe", room: "echo" });
    await a.request({ type: "publish", room: "echo", data: 1 });
    expect((await a.next(isMsg("echo"))).data).toBe(1);
    a.close();
  });

  test("one client's publishes get increasing offsets in the order sent", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    for (let i = 0; i < 50; i++) a.send({ type: "publish", id: i + 1, room: "order", data: i });
    const acks = await a.take(50, (f) => f.type === "ack");
    expect(acks.map((f) => f.offset)).toEqual(acks.map((f) => f.id));
    a.close();
  });

  test("after unsubscribe no more messages arrive; unsubscribing twice is not_subscribed", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    await a.request({ type: "subscribe", room: "gone" });
    expect(await a.request({ type: "unsubscribe", room: "gone" })).toMatchObject({
      type: "unsubscribed",
      room: "gone",
    });
    expect(await a.request({ type: "unsubscribe", room: "gone" })).toMatchObject({
      type: "error",
      code: "not_subscribed",
    });
    await node.api("/v1/publish", { body: { room: "gone", data: "late" } });
    const pong = await a.request({ type: "ping" });
    expect(pong.type).toBe("pong");
    expect(a.all(isMsg("gone"))).toHaveLength(0);
    a.close();
  });

  test("system rooms cannot be subscribed, unsubscribed or published by name", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    for (const frame of [
      { type: "subscribe", room: "@bob" },
      { type: "subscribe", room: "$broadcast" },
      { type: "unsubscribe", room: "@alice" },
      { type: "publish", room: "$broadcast", data: 1 },
      { type: "publish", room: "@bob", data: 1 },
    ]) {
      expect(await a.request(frame)).toMatchObject({ type: "error", code: "forbidden" });
    }
    a.close();
  });

  test("token-protected rooms need a matching rooms claim", async () => {
    const plain = await TestClient.connect(node.ws, "alice");
    expect(await plain.request({ type: "subscribe", room: "secret:x" })).toMatchObject({
      code: "forbidden",
    });
    expect(await plain.request({ type: "publish", room: "secret:x", data: 1 })).toMatchObject({
      code: "forbidden",
    });
    const granted = await TestClient.connect(
      node.ws,
      "carol",
      await tokenFor("carol", { rooms: ["secret:*"] }),
    );
    expect(await granted.request({ type: "subscribe", room: "secret:x" })).toMatchObject({
      type: "subscribed",
    });
    expect(await granted.request({ type: "publish", room: "secret:x", data: 1 })).toMatchObject({
      type: "ack",
    });
    expect(await granted.request({ type: "subscribe", room: "secretive" })).toMatchObject({
      type: "subscribed",
    });
    plain.close();
    granted.close();
  });

  test("a server-only namespace refuses client publishes but takes API publishes", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    await a.request({ type: "subscribe", room: "news:today" });
    expect(await a.request({ type: "publish", room: "news:today", data: 1 })).toMatchObject({
      code: "forbidden",
    });
    const res = await node.api("/v1/publish", { body: { room: "news:today", data: "headline" } });
    expect(res.status).toBe(200);
    const m = await a.next(isMsg("news:today"));
    expect(m.data).toBe("headline");
    expect("from" in m).toBe(false);
    a.close();
  });

  test("every connection receives broadcasts", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    const b = await TestClient.connect(node.ws, "bob");
    const res = await node.api("/v1/broadcast", { body: { data: { notice: "maintenance" } } });
    const body = await res.json();
    expect(body.room).toBe("$broadcast");
    for (const c of [a, b]) {
      const m = await c.next(isMsg("$broadcast"));
      expect(m).toMatchObject({ offset: body.offset, data: { notice: "maintenance" } });
    }
    a.close();
    b.close();
  });

  test("the server pings every `ping` seconds", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    expect(await a.next((f) => f.type === "ping", 3000)).toEqual({ type: "ping" });
    a.close();
  });
});

describe("direct messages", () => {
  test("reach every connection of the user, with the sender as `from`", async () => {
    const a = await TestClient.connect(node.ws, "dm-alice");
    const b1 = await TestClient.connect(node.ws, "dm-bob");
    const b2 = await TestClient.connect(node.ws, "dm-bob");
    const ack = await a.request({ type: "send", to: "dm-bob", data: { text: "psst" } });
    expect(ack).toMatchObject({ type: "ack", room: "@dm-bob", offset: 1 });
    for (const b of [b1, b2]) {
      expect(await b.next(isMsg("@dm-bob"))).toMatchObject({
        offset: 1,
        from: "dm-alice",
        data: { text: "psst" },
      });
    }
    expect(a.all(isMsg("@dm-bob"))).toHaveLength(0);
    for (const c of [a, b1, b2]) c.close();
  });

  test("a user's connections come and go one by one: the rest keep receiving and counting", async () => {
    const a = await TestClient.connect(node.ws, "dm-sender");
    const bobs = await Promise.all([1, 2, 3].map(() => TestClient.connect(node.ws, "dm-dave")));
    const count = async () => {
      const res = await node.api("/v1/users");
      const body = (await res.json()) as { users: { user: string; connections: number }[] };
      return body.users.find((u) => u.user === "dm-dave")?.connections ?? 0;
    };
    expect(await count()).toBe(3);
    for (let left = 3; left > 0; left--) {
      await a.request({ type: "send", to: "dm-dave", data: left });
      for (const b of bobs) expect((await b.next(isMsg("@dm-dave"))).data).toBe(left);
      const gone = bobs.shift() as TestClient;
      gone.close();
      await gone.closed;
      await until(async () => (await count()) === left - 1, { what: `${left - 1} connections` });
    }
    a.close();
  });

  test("missed while offline are recovered with connect.inbox", async () => {
    const first = await TestClient.connect(node.ws, "dm-carol");
    const inbox = first.frames[0]?.inbox;
    first.close();
    await first.closed;
    for (let i = 0; i < 3; i++) await node.api("/v1/send", { body: { to: "dm-carol", data: i } });
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1, token: await tokenFor("dm-carol"), inbox });
    const connected = await c.next();
    expect(connected).toMatchObject({
      type: "connected",
      id: 1,
      recovered: true,
      inbox: { offset: inbox.offset + 3 },
    });
    const msgs = await c.take(3, isMsg("@dm-carol"));
    expect(msgs.map((m) => m.data)).toEqual([0, 1, 2]);
    const h = await c.request({ type: "history", room: "@dm-carol" });
    expect(h.messages.map((m: Frame) => m.data)).toEqual([0, 1, 2]);
    expect(await c.request({ type: "history", room: "@someone-else" })).toMatchObject({
      code: "forbidden",
    });
    c.close();
  });
});

describe("presence", () => {
  test("join and leave reach presence subscribers only, never the user's own connections", async () => {
    const watcher = await TestClient.connect(node.ws, "p-watch");
    const silent = await TestClient.connect(node.ws, "p-silent");
    await watcher.request({ type: "subscribe", room: "lobby", presence: true });
    await silent.request({ type: "subscribe", room: "lobby" });
    expect(await watcher.next((f) => f.type === "join")).toEqual({
      type: "join",
      room: "lobby",
      user: "p-silent",
    });

    const dave1 = await TestClient.connect(node.ws, "p-dave");
    const dave2 = await TestClient.connect(node.ws, "p-dave");
    await dave1.request({ type: "subscribe", room: "lobby", presence: true });
    expect(await watcher.next((f) => f.type === "join")).toMatchObject({ user: "p-dave" });
    await dave2.request({ type: "subscribe", room: "lobby", presence: true });

    const list = await watcher.request({ type: "presence", room: "lobby" });
    expect(list.users.sort()).toEqual(["p-dave", "p-silent", "p-watch"]);

    dave1.close();
    await dave1.closed;
    await dave2.request({ type: "unsubscribe", room: "lobby" });
    expect(await watcher.next((f) => f.type === "leave")).toEqual({
      type: "leave",
      room: "lobby",
      user: "p-dave",
    });
    expect(watcher.all((f) => f.type === "join" && f.user === "p-dave")).toHaveLength(1);
    expect(dave1.all((f) => f.type === "join" || f.type === "leave")).toHaveLength(0);
    expect(dave2.all((f) => f.type === "join" && f.user === "p-dave")).toHaveLength(0);
    expect(silent.all((f) => f.type === "join" || f.type === "leave")).toHaveLength(0);
    for (const c of [watcher, silent, dave2]) c.close();
  });

  test("a namespace with presence off refuses presence queries", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    await a.request({ type: "subscribe", room: "quiet:x", presence: true });
    expect(await a.request({ type: "presence", room: "quiet:x" })).toMatchObject({
      code: "forbidden",
    });
    a.close();
  });
});

describe("history", () => {
  test("pages with since, before and the latest by default, oldest first", async () => {
    for (let i = 1; i <= 10; i++)
      await node.api("/v1/publish", { body: { room: "hist", data: i } });
    const a = await TestClient.connect(node.ws, "alice");
    const data = (f: Frame) => f.messages.map((m: Frame) => m.data);
    expect(data(await a.request({ type: "history", room: "hist", limit: 3 }))).toEqual([8, 9, 10]);
    expect(data(await a.request({ type: "history", room: "hist", since: 4, limit: 3 }))).toEqual([
      5, 6, 7,
    ]);
    expect(data(await a.request({ type: "history", room: "hist", before: 4 }))).toEqual([1, 2, 3]);
    const h = await a.request({ type: "history", room: "hist", before: 3, limit: 1 });
    expect(h.messages[0]).toEqual({
      room: "hist",
      offset: 2,
      epoch: h.epoch,
      data: 2,
      ts: expect.any(Number),
    });
    a.close();
  });

  test("paging forward from before expired messages reaches the kept ones", async () => {
    const room = "brief:r";
    for (let i = 1; i <= 60; i++) await node.api("/v1/publish", { body: { room, data: i } });
    const a = await TestClient.connect(node.ws, "alice");
    const offsets = (f: Frame) => f.messages.map((m: Frame) => m.offset);
    await until(
      async () => offsets(await a.request({ type: "history", room, limit: 1000 })).length === 0,
      { what: "the first 60 messages to expire", timeoutMs: 10_000 },
    );
    for (let i = 61; i <= 65; i++) await node.api("/v1/publish", { body: { room, data: i } });
    const want = [61, 62, 63, 64, 65];
    expect(offsets(await a.request({ type: "history", room, since: 0, limit: 50 }))).toEqual(want);
    expect(offsets(await a.request({ type: "history", room, since: 10, limit: 2 }))).toEqual([
      61, 62,
    ]);
    const res = await node.api(`/v1/rooms/${room}/history?since=0&limit=20`);
    expect(offsets((await res.json()) as Frame)).toEqual(want);
    a.close();
  });

  test("keeps only the namespace's history size", async () => {
    for (let i = 1; i <= 5; i++)
      await node.api("/v1/publish", { body: { room: "tiny:r", data: i } });
    const a = await TestClient.connect(node.ws, "alice");
    const h = await a.request({ type: "history", room: "tiny:r" });
    expect(h.messages.map((m: Frame) => m.offset)).toEqual([3, 4, 5]);
    a.close();
  });
});
