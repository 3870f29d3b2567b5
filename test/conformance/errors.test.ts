/**
 * Conformance: the error codes (PROTOCOL.md, "Server frames" and "Server HTTP API"). Each
 * code is shown where a client meets it; an error reply never closes the connection.
 *
 * `internal` is not here: a correct server has no way to be made to fail from outside.
 * `unavailable` is shown on a node whose Redis broker is down.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestClient, tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

let node: NodeProcess;
let c: TestClient;

beforeAll(async () => {
  node = await spawnNode({
    config: `
limits:
  maxFrameBytes: 4096
  framesPerSecond: 20
  rateLimitStrikes: 1000
  badFrames: 1000
namespaces:
  news:
    publish: server
  secret:
    subscribe: token
`,
  });
  c = await TestClient.connect(node.ws, "alice");
});
afterAll(async () => {
  c.close();
  await node.kill();
});

/** After an error the same connection still answers. */
async function stillOpen(client: TestClient): Promise<void> {
  expect((await client.request({ type: "ping" })).type).toBe("pong");
}

describe("error frames over the WebSocket", () => {
  test("bad_request: a frame that is not a JSON object", async () => {
    c.send("{not json");
    expect(await c.next((f) => f.type === "error")).toMatchObject({ code: "bad_request" });
    await stillOpen(c);
  });

  test("bad_request: a binary frame", async () => {
    c.send(new TextEncoder().encode('{"type":"ping","id":1}'));
    expect(await c.next((f) => f.type === "error")).toMatchObject({ code: "bad_request" });
    await stillOpen(c);
  });

  test("bad_request: a missing or invalid field, with the frame's id", async () => {
    const reply = await c.request({ type: "subscribe", room: "no spaces allowed" });
    expect(reply).toMatchObject({ type: "error", code: "bad_request" });
    await stillOpen(c);
  });

  test("bad_request: an id that is not a positive integer below 2^31", async () => {
    c.send({ type: "ping", id: 2 ** 31 });
    expect(await c.next((f) => f.type === "error")).toMatchObject({ code: "bad_request" });
    await stillOpen(c);
  });

  test("unknown_type: a frame type the server does not know", async () => {
    const reply = await c.request({ type: "teleport" });
    expect(reply).toMatchObject({ type: "error", id: reply.id, code: "unknown_type" });
    await stillOpen(c);
  });

  test("unauthorized: a refresh token that fails verification", async () => {
    const reply = await c.request({ type: "refresh", token: "not.a.jwt" });
    expect(reply).toMatchObject({ type: "error", code: "unauthorized" });
    await stillOpen(c);
  });

  test("forbidden: system rooms by name, server-only namespaces, token-protected rooms", async () => {
    const refusals = [
      { type: "subscribe", room: "@bob" },
      { type: "subscribe", room: "$broadcast" },
      { type: "unsubscribe", room: "@alice" },
      { type: "publish", room: "$broadcast", data: 1 },
      { type: "publish", room: "news:today", data: 1 },
      { type: "subscribe", room: "secret:vault" },
    ];
    for (const frame of refusals) {
      expect(await c.request(frame)).toMatchObject({ type: "error", code: "forbidden" });
    }
    await stillOpen(c);
  });

  test("a token whose `rooms` claim matches may use a token-protected room", async () => {
    const token = await tokenFor("alice", { rooms: ["secret:*"] });
    const allowed = await TestClient.connect(node.ws, "alice", token);
    const reply = await allowed.request({ type: "subscribe", room: "secret:vault" });
    expect(reply.type).toBe("subscribed");
    allowed.close();
  });

  test("not_subscribed: unsubscribing from a room the connection is not in", async () => {
    const reply = await c.request({ type: "unsubscribe", room: "never-joined" });
    expect(reply).toMatchObject({ type: "error", code: "not_subscribed" });
    await stillOpen(c);
  });

  test("rate_limited: frames beyond framesPerSecond, answered with their id", async () => {
    const r = await TestClient.connect(node.ws, "rapid");
    for (let i = 1; i <= 60; i++) r.send({ type: "ping", id: i });
    const limited = await r.next((f) => f.type === "error");
    expect(limited).toMatchObject({ code: "rate_limited", id: expect.any(Number) });
    r.close();
  });
});

describe("error bodies over HTTP", () => {
  test("not_found: 404 with an error body", async () => {
    const res = await node.api("/v1/no-such-call");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      error: { code: "not_found", message: expect.any(String) },
    });
  });

  test("too_large: 413 for a body over maxFrameBytes", async () => {
    const res = await node.api("/v1/publish", { body: { room: "big", data: "x".repeat(5000) } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "too_large" } });
  });

  test("unauthorized: 401 without the API key", async () => {
    const res = await node.api("/v1/publish", { body: { room: "r", data: 1 }, key: null });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: "unauthorized" } });
  });

  test("bad_request: 400 for a body without a room", async () => {
    const res = await node.api("/v1/publish", { body: { data: 1 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "bad_request" } });
  });
});

describe("unavailable: the node cannot reach its broker", () => {
  let redis: RedisServer;
  let clustered: NodeProcess;
  beforeAll(async () => {
    redis = await startRedis();
    clustered = await spawnNode({ env: { EDGEPUSH_BROKER: "redis", REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await clustered.kill();
    await redis.dispose();
  });

  test("a publish while Redis is down is answered with unavailable, and the connection stays", async () => {
    const client = await TestClient.connect(clustered.ws, "alice");
    expect((await client.request({ type: "publish", room: "up", data: 1 })).type).toBe("ack");
    await redis.kill();
    const reply = await client.request({ type: "publish", room: "up", data: 2 }, 20_000);
    expect(reply).toMatchObject({ type: "error", code: "unavailable" });
    const res = await clustered.api("/v1/publish", { body: { room: "up", data: 3 } });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: "unavailable" } });
    await stillOpen(client);
    client.close();
  });
});
