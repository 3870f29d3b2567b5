/**
 * Conformance: every client frame and its reply (PROTOCOL.md, "Client frames and their
 * replies"), one test each, over a plain WebSocket against a real node.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Frame, TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { messageIn, signed } from "./wire.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
auth:
  clockToleranceSeconds: 0
namespaces:
  tiny:
    historySize: 3
  big:
    historySize: 2000
`,
  });
});
afterAll(() => node.kill());

async function publishViaApi(room: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await node.api("/v1/publish", { body: { room, data: { n: i } } });
    expect(res.status).toBe(200);
  }
}

const offsets = (frames: Frame[]) => frames.map((f) => f.offset);

describe("subscribe", () => {
  test("`subscribed` carries the room's latest offset and epoch, and no `recovered`", async () => {
    await publishViaApi("sub:fresh", 2);
    const c = await TestClient.connect(node.ws, "alice");
    const reply = await c.request({ type: "subscribe", room: "sub:fresh" });
    expect(reply).toEqual({
      type: "subscribed",
      id: reply.id,
      room: "sub:fresh",
      offset: 2,
      epoch: expect.any(String),
    });
    c.close();
  });

  test("a room that never had a message is at offset 0", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    expect((await c.request({ type: "subscribe", room: "sub:empty" })).offset).toBe(0);
    c.close();
  });

  test("with `since`, recovered: true, then the missed messages in order, then live ones", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const { epoch } = await c.request({ type: "subscribe", room: "sub:since" });
    await publishViaApi("sub:since", 12);
    const r = await TestClient.connect(node.ws, "bob");
    const reply = await r.request({
      type: "subscribe",
      room: "sub:since",
      since: { offset: 5, epoch },
    });
    expect(reply).toMatchObject({ type: "subscribed", offset: 12, epoch, recovered: true });
    await publishViaApi("sub:since", 1);
    const got = await r.take(8, messageIn("sub:since"));
    expect(offsets(got)).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    c.close();
    r.close();
  });

  test("`since` in another epoch: recovered: false and nothing replayed", async () => {
    await publishViaApi("sub:epoch", 3);
    const c = await TestClient.connect(node.ws, "alice");
    const since = { offset: 1, epoch: "another-epoch" };
    const reply = await c.request({ type: "subscribe", room: "sub:epoch", since });
    expect(reply).toMatchObject({ offset: 3, recovered: false });
    await publishViaApi("sub:epoch", 1);
    expect(offsets(await c.take(1, messageIn("sub:epoch")))).toEqual([4]);
    c.close();
  });

  test("`since` beyond the room's latest offset: recovered: false", async () => {
    await publishViaApi("sub:ahead", 2);
    const c = await TestClient.connect(node.ws, "alice");
    const { epoch } = await c.request({ type: "subscribe", room: "sub:ahead" });
    await c.request({ type: "unsubscribe", room: "sub:ahead" });
    const since = { offset: 50, epoch };
    const reply = await c.request({ type: "subscribe", room: "sub:ahead", since });
    expect(reply).toMatchObject({ offset: 2, recovered: false });
    c.close();
  });

  test("`since` older than what history keeps: recovered: false", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const { epoch } = await c.request({ type: "subscribe", room: "tiny:room" });
    await c.request({ type: "unsubscribe", room: "tiny:room" });
    await publishViaApi("tiny:room", 6);
    const reply = await c.request({
      type: "subscribe",
      room: "tiny:room",
      since: { offset: 0, epoch },
    });
    expect(reply).toMatchObject({ offset: 6, recovered: false });
    c.close();
  });

  test("`since` without a non-empty epoch or a non-negative offset is bad_request", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    for (const since of [{ offset: 1 }, { offset: 1, epoch: "" }, { offset: -1, epoch: "e" }]) {
      const reply = await c.request({ type: "subscribe", room: "sub:bad", since });
      expect(reply).toMatchObject({ type: "error", code: "bad_request" });
    }
    c.close();
  });
});

test("unsubscribe: `unsubscribed`, and no more messages from the room", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  await c.request({ type: "subscribe", room: "unsub" });
  const reply = await c.request({ type: "unsubscribe", room: "unsub" });
  expect(reply).toEqual({ type: "unsubscribed", id: reply.id, room: "unsub" });
  await publishViaApi("unsub", 1);
  await c.request({ type: "subscribe", room: "unsub-marker" });
  await publishViaApi("unsub-marker", 1);
  await c.next(messageIn("unsub-marker"));
  expect(c.all(messageIn("unsub"))).toHaveLength(0);
  c.close();
});

test("publish: `ack` with the room, the message's offset and the epoch", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  const first = await c.request({ type: "publish", room: "pub", data: { text: "hi" } });
  expect(first).toEqual({
    type: "ack",
    id: first.id,
    room: "pub",
    offset: 1,
    epoch: expect.any(String),
  });
  const second = await c.request({ type: "publish", room: "pub", data: { text: "again" } });
  expect(second).toMatchObject({ offset: 2, epoch: first.epoch });
  c.close();
});

test("frames are handled in arrival order: pipelined publishes get offsets in send order", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  for (let i = 1; i <= 30; i++) c.send({ type: "publish", id: i, room: "pipelined", data: i });
  const acks = await c.take(30, (f) => f.type === "ack");
  const byId = acks.sort((a, b) => a.id - b.id);
  expect(byId.map((a) => a.offset)).toEqual(byId.map((a) => a.id));
  c.close();
});

test("send: `ack` in the recipient's inbox `@user`, delivered to each of their connections", async () => {
  const bob1 = await TestClient.connect(node.ws, "bob-send");
  const bob2 = await TestClient.connect(node.ws, "bob-send");
  const a = await TestClient.connect(node.ws, "alice");
  const ack = await a.request({ type: "send", to: "bob-send", data: { text: "psst" } });
  expect(ack).toEqual({
    type: "ack",
    id: ack.id,
    room: "@bob-send",
    offset: 1,
    epoch: expect.any(String),
  });
  for (const b of [bob1, bob2]) {
    const m = await b.next(messageIn("@bob-send"));
    expect(m).toMatchObject({ offset: 1, epoch: ack.epoch, from: "alice", data: { text: "psst" } });
  }
  for (const c of [a, bob1, bob2]) c.close();
});

test("presence: every user with a connection in the room, with or without the flag", async () => {
  const a = await TestClient.connect(node.ws, "p-alice");
  const b = await TestClient.connect(node.ws, "p-bob");
  await a.request({ type: "subscribe", room: "pres", presence: true });
  await b.request({ type: "subscribe", room: "pres" });
  const reply = await a.request({ type: "presence", room: "pres" });
  expect(reply).toMatchObject({ type: "presence", id: reply.id, room: "pres" });
  expect([...reply.users].sort()).toEqual(["p-alice", "p-bob"]);
  a.close();
  b.close();
});

describe("history", () => {
  test("without since/before: the latest `limit` messages, oldest first, with message fields", async () => {
    await publishViaApi("hist", 5);
    const c = await TestClient.connect(node.ws, "alice");
    await c.request({ type: "publish", room: "hist", data: "from alice" });
    const reply = await c.request({ type: "history", room: "hist", limit: 3 });
    expect(reply).toMatchObject({
      type: "history",
      id: reply.id,
      room: "hist",
      epoch: expect.any(String),
    });
    expect(offsets(reply.messages)).toEqual([4, 5, 6]);
    expect(reply.messages[2]).toEqual({
      room: "hist",
      offset: 6,
      epoch: reply.epoch,
      from: "alice",
      data: "from alice",
      ts: expect.any(Number),
    });
    expect(reply.messages[0].from).toBeUndefined();
    c.close();
  });

  test("`since: N` pages forward from above N", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const reply = await c.request({ type: "history", room: "hist", since: 2, limit: 2 });
    expect(offsets(reply.messages)).toEqual([3, 4]);
    c.close();
  });

  test("`before: N` returns the `limit` messages just below N", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const reply = await c.request({ type: "history", room: "hist", before: 5, limit: 2 });
    expect(offsets(reply.messages)).toEqual([3, 4]);
    c.close();
  });

  test("`limit` defaults to 50 and is capped at 1000", async () => {
    const room = "big:many";
    const batch = Array.from({ length: 1005 }, (_, i) => i);
    for (let i = 0; i < batch.length; i += 50) {
      await Promise.all(
        batch.slice(i, i + 50).map((n) => node.api("/v1/publish", { body: { room, data: n } })),
      );
    }
    const c = await TestClient.connect(node.ws, "alice");
    expect((await c.request({ type: "history", room })).messages).toHaveLength(50);
    const capped = await c.request({ type: "history", room, since: 0, limit: 5000 });
    expect(capped.type).toBe("history");
    expect(capped.messages).toHaveLength(1000);
    // However large: an integer limit above the cap is the cap, over WebSocket and HTTP.
    for (const limit of [2 ** 53, 1e300]) {
      const huge = await c.request({ type: "history", room, since: 0, limit });
      expect(huge.messages).toHaveLength(1000);
    }
    // A number too long for a double (JSON parses it as Infinity) is a limit above the cap too.
    c.socket.send(`{"type":"history","id":77,"room":"${room}","since":0,"limit":1e400}`);
    const endless = await c.next((f) => f.id === 77);
    expect(endless.type).toBe("history");
    expect(endless.messages).toHaveLength(1000);
    const path = `/v1/rooms/${room}/history?since=0&limit=${"9".repeat(40)}`;
    const res = await node.api(path);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { messages: unknown[] }).messages).toHaveLength(1000);
    c.close();
  });

  test("a client may read its own inbox and $broadcast, not another user's inbox", async () => {
    await node.api("/v1/broadcast", { body: { data: "to all" } });
    const c = await TestClient.connect(node.ws, "reader");
    expect((await c.request({ type: "history", room: "@reader" })).type).toBe("history");
    const all = await c.request({ type: "history", room: "$broadcast" });
    expect(all.messages.at(-1)).toMatchObject({ room: "$broadcast", data: "to all" });
    const other = await c.request({ type: "history", room: "@someone-else" });
    expect(other).toMatchObject({ type: "error", code: "forbidden" });
    c.close();
  });
});

describe("refresh", () => {
  test("`refreshed` with the new token's exp; the connection outlives the first token", async () => {
    const c = await TestClient.connect(node.ws, "alice", await signed("alice", 2));
    const next = await signed("alice", 600);
    const reply = await c.request({ type: "refresh", token: next });
    const exp = JSON.parse(atob(next.split(".")[1] as string)).exp;
    expect(reply).toEqual({ type: "refreshed", id: reply.id, exp });
    await Bun.sleep(3500); // past the first token's exp: the connection must still be open
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    c.close();
  });

  test("a token that fails verification is unauthorized and the connection stays", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const reply = await c.request({
      type: "refresh",
      token: await signed("alice", 600, "y".repeat(40)),
    });
    expect(reply).toMatchObject({ type: "error", code: "unauthorized" });
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    c.close();
  });

  test("a token for another `sub` is forbidden", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const reply = await c.request({ type: "refresh", token: await signed("mallory") });
    expect(reply).toMatchObject({ type: "error", code: "forbidden" });
    c.close();
  });
});

test("ping: `pong` with the same id", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  c.send({ type: "ping", id: 77 });
  expect(await c.next()).toEqual({ type: "pong", id: 77 });
  c.close();
});

test("pong (the answer to a server ping) gets no reply", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  c.send({ type: "pong" });
  c.send({ type: "ping", id: 5 });
  expect(await c.next()).toEqual({ type: "pong", id: 5 });
  c.close();
});

test("replies may come out of order; each carries its frame's id", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  c.send({ type: "history", id: 10, room: "hist" });
  c.send({ type: "ping", id: 11 });
  c.send({ type: "presence", id: 12, room: "hist" });
  const replies = await c.take(3, (f) => f.id !== undefined);
  const byId = Object.fromEntries(replies.map((f) => [f.id, f.type]));
  expect(byId).toEqual({ 10: "history", 11: "pong", 12: "presence" });
  c.close();
});
