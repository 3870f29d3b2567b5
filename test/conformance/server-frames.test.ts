/**
 * Conformance: every frame the server sends on its own (PROTOCOL.md, "Server frames"):
 * message, join, leave, ping, error; ordering; the idle timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Frame, TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { messageIn } from "./wire.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
ws:
  pingSeconds: 1
  idleTimeoutSeconds: 3
namespaces:
  quiet:
    presence: false
`,
  });
});
afterAll(() => node.kill());

/** A client that answers server pings, so the idle timeout leaves it alone. */
async function live(user: string): Promise<TestClient> {
  const c = await TestClient.connect(node.ws, user);
  c.socket.addEventListener("message", (e) => {
    if (JSON.parse(String(e.data)).type === "ping") c.send({ type: "pong" });
  });
  return c;
}

const joinsAndLeaves = (c: TestClient, room: string) =>
  c.all((f) => (f.type === "join" || f.type === "leave") && f.room === room);

describe("message", () => {
  test("carries room, offset, epoch, from, data and ts (ms at offset time)", async () => {
    const a = await live("alice");
    const b = await live("bob");
    const { epoch } = await b.request({ type: "subscribe", room: "msg" });
    const before = Date.now();
    await a.request({ type: "publish", room: "msg", data: { text: "hi" } });
    const m = await b.next(messageIn("msg"));
    expect(m).toEqual({
      type: "message",
      room: "msg",
      offset: 1,
      epoch,
      from: "alice",
      data: { text: "hi" },
      ts: expect.any(Number),
    });
    expect(m.ts).toBeGreaterThanOrEqual(before - 1000);
    expect(m.ts).toBeLessThanOrEqual(Date.now() + 1000);
    a.close();
    b.close();
  });

  test("has no `from` when published through the server API", async () => {
    const b = await live("bob");
    await b.request({ type: "subscribe", room: "msg-api" });
    await node.api("/v1/publish", { body: { room: "msg-api", data: 1 } });
    const m = await b.next(messageIn("msg-api"));
    expect("from" in m).toBe(false);
    b.close();
  });

  test("reaches the publisher too when it is subscribed", async () => {
    const a = await live("alice");
    await a.request({ type: "subscribe", room: "msg-self" });
    // The message may come before or after the ack: read both in arrival order.
    a.send({ type: "publish", id: 50, room: "msg-self", data: "mine" });
    const [first, second] = await a.take(2, (f) => f.id === 50 || messageIn("msg-self")(f));
    const types = [first?.type, second?.type].sort();
    expect(types).toEqual(["ack", "message"]);
    expect(a.all(messageIn("msg-self"))[0]?.data).toBe("mine");
    a.close();
  });

  test("arrives in strictly increasing offset order, each offset once", async () => {
    const sub = await live("watcher");
    await sub.request({ type: "subscribe", room: "order" });
    const pubs = await Promise.all(["p1", "p2", "p3"].map((u) => live(u)));
    for (let i = 0; i < 20; i++) {
      for (const p of pubs) p.send({ type: "publish", room: "order", data: i });
    }
    const got = await sub.take(60, messageIn("order"));
    const seen = got.map((f) => f.offset);
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    for (const c of [sub, ...pubs]) c.close();
  });

  test("$broadcast reaches every connection, subscribed on connect", async () => {
    const a = await live("alice");
    const b = await live("bob");
    await node.api("/v1/broadcast", { body: { data: "everyone" } });
    for (const c of [a, b]) {
      expect(await c.next(messageIn("$broadcast"))).toMatchObject({ data: "everyone" });
    }
    a.close();
    b.close();
  });
});

describe("join and leave", () => {
  test("go to presence subscribers when a user's first connection joins and last leaves", async () => {
    const watcher = await live("watcher");
    await watcher.request({ type: "subscribe", room: "pres", presence: true });
    const bob1 = await live("bob");
    await bob1.request({ type: "subscribe", room: "pres" });
    expect(await watcher.next((f) => f.type === "join")).toEqual({
      type: "join",
      room: "pres",
      user: "bob",
    });

    const bob2 = await live("bob");
    await bob2.request({ type: "subscribe", room: "pres" });
    bob1.close();
    await bob1.closed;
    bob2.close();
    expect(await watcher.next((f) => f.type === "leave")).toEqual({
      type: "leave",
      room: "pres",
      user: "bob",
    });
    // One join for bob's first connection and one leave for his last, nothing for the second.
    expect(joinsAndLeaves(watcher, "pres").map((f) => f.type)).toEqual(["join", "leave"]);
    watcher.close();
  });

  test("do not go to subscribers without the presence flag", async () => {
    const plain = await live("plain");
    await plain.request({ type: "subscribe", room: "pres-plain" });
    const flagged = await live("flagged");
    await flagged.request({ type: "subscribe", room: "pres-plain", presence: true });
    const carol = await live("carol");
    await carol.request({ type: "subscribe", room: "pres-plain" });
    await flagged.next((f) => f.type === "join" && f.user === "carol");
    expect(joinsAndLeaves(plain, "pres-plain")).toHaveLength(0);
    for (const c of [plain, flagged, carol]) c.close();
  });

  test("never go to the joining user's own connections", async () => {
    const mine = await live("dora");
    await mine.request({ type: "subscribe", room: "pres-own", presence: true });
    const other = await live("dora");
    await other.request({ type: "subscribe", room: "pres-own", presence: true });
    const eve = await live("eve");
    await eve.request({ type: "subscribe", room: "pres-own" });
    await mine.next((f) => f.type === "join" && f.user === "eve");
    expect(joinsAndLeaves(mine, "pres-own").filter((f) => f.user === "dora")).toHaveLength(0);
    for (const c of [mine, other, eve]) c.close();
  });
});

describe("ping", () => {
  test("arrives every `ping` seconds (from `connected`)", async () => {
    const c = await live("alice");
    const ping = c.frames[0]?.ping;
    expect(ping).toBe(1);
    const started = Date.now();
    await c.next((f) => f.type === "ping", 3000);
    await c.next((f) => f.type === "ping", 3000);
    expect(Date.now() - started).toBeLessThan(3000);
    c.close();
  });

  test("a connection that sends nothing, not even pong, is closed after idleTimeout", async () => {
    const silent = await TestClient.connect(node.ws, "silent");
    const answering = await live("answering");
    const started = Date.now();
    // Bounded so that a server that never closes fails this test, not the ones after it.
    const elapsed = await Promise.race([
      silent.closed.then(() => Date.now() - started),
      Bun.sleep(10_000).then(() => Number.POSITIVE_INFINITY),
    ]);
    expect(elapsed).toBeGreaterThan(2000);
    expect(elapsed).toBeLessThan(9000); // Bun checks idle timers every few seconds
    expect((await answering.request({ type: "ping" })).type).toBe("pong");
    answering.close();
  });
});

test("error carries type, the frame's id, a stable code and a message", async () => {
  const c = await live("alice");
  const reply: Frame = await c.request({ type: "subscribe", room: "@bob" });
  expect(reply).toEqual({
    type: "error",
    id: reply.id,
    code: "forbidden",
    message: expect.any(String),
  });
  expect((await c.request({ type: "ping" })).type).toBe("pong");
  c.close();
});
