import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { COMMAND_TIMEOUT_MS, PROBE_TIMEOUT_MS } from "../../src/broker/keeper.ts";
import { type Frame, TestClient, tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { startUpstashGateway, type UpstashGateway } from "../support/upstash-gateway.ts";
import { until } from "../support/wait.ts";
import { clusterEnv } from "./harness.ts";

/**
 * Redis stops answering for longer than the command timeout but well within the PING check
 * that follows it; CLIENT PAUSE holds every client's commands on live connections.
 */
const STALL_MS = COMMAND_TIMEOUT_MS + Math.floor(PROBE_TIMEOUT_MS / 2);

const kinds = ["redis", "upstash"] as const;

describe.each(kinds)("two nodes over %s when Redis is slow or gone", (kind) => {
  let redis: RedisServer;
  let gateway: UpstashGateway | undefined;
  let dir: string;
  let a: NodeProcess;
  let b: NodeProcess;
  const clients: TestClient[] = [];

  // The default presence TTL: its heartbeat echo check (3 x TTL/3) outlasts the stall.
  const launch = (id: string) =>
    spawnNode({
      env: clusterEnv(kind, redis, gateway, join(dir, "history.db"), id),
    });

  const connect = async (node: NodeProcess, user: string) => {
    const client = await TestClient.connect(node.ws, user);
    clients.push(client);
    return client;
  };

  /** Opens a socket whose handshake may be refused: resolves with `connected` or the close. */
  const attempt = async (node: NodeProcess, user: string) => {
    const token = await tokenFor(user);
    const client = await TestClient.open(`${node.ws}?token=${encodeURIComponent(token)}`);
    clients.push(client);
    return await client
      .next((f) => f.type === "connected")
      .then(
        () => "connected",
        () => client.closed,
      );
  };

  const publish = async (node: NodeProcess, room: string, data: unknown) => {
    const res = await node.api("/v1/publish", { body: { room, data } });
    return { status: res.status, body: (await res.json()) as Frame };
  };

  const ready = async (node: NodeProcess) => (await node.api("/v1/ready")).status;

  const events = (node: NodeProcess, event: string) => node.logs.filter((l) => l.event === event);

  const raw = async (args: string[]) => {
    const client = new RedisClient(redis.url);
    try {
      return await client.send(args[0] as string, args.slice(1));
    } finally {
      client.close();
    }
  };

  beforeAll(async () => {
    redis = await startRedis();
    gateway = kind === "upstash" ? startUpstashGateway(redis.url) : undefined;
    dir = mkdtempSync(join(tmpdir(), "edgepush-slow-"));
    a = await launch("a");
    b = await launch("b");
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all([a, b].map((n) => n?.stop()));
    await gateway?.stop();
    await redis?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("a stall past the command timeout fails those requests, keeps the link and every client", async () => {
    const room = "chat:stall";
    const onA = await connect(a, "stall-a");
    const onB = await connect(b, "stall-b");
    for (const s of [onA, onB]) {
      expect(await s.request({ type: "subscribe", room })).toMatchObject({ type: "subscribed" });
    }

    expect(await raw(["CLIENT", "PAUSE", String(STALL_MS), "ALL"])).toBe("OK");
    const [stalled, handshake] = await Promise.all([
      publish(a, room, { n: "during" }),
      attempt(a, "stall-new"),
    ]);
    // Both waited on Redis past the command timeout: a passing condition, not an error.
    expect(stalled.status).toBe(503);
    expect(stalled.body.error.code).toBe("unavailable");
    expect(handshake).toMatchObject({ code: 1013 });

    // The link was never dropped; the PING after the timeout is answered once the stall ends.
    expect(await raw(["PING"])).toBe("PONG");
    await a.waitForLog((l) => l.event === "redis answered" || l.event === "redis unreachable");
    for (const node of [a, b]) {
      expect(events(node, "redis unreachable")).toEqual([]);
      expect(events(node, "broker down")).toEqual([]);
      expect(await ready(node)).toBe(200);
    }
    const after = await publish(a, room, { n: "after" });
    expect(after.status).toBe(200);
    expect(await attempt(a, "stall-later")).toBe("connected");

    // Redis ran the stalled publish when the stall ended: both nodes deliver it, in order.
    for (const s of [onA, onB]) {
      const got = await s.take(2, (f) => f.type === "message" && f.room === room);
      expect(got.map((m) => [m.offset, m.data.n])).toEqual([
        [1, "during"],
        [2, "after"],
      ]);
      expect(s.socket.readyState).toBe(WebSocket.OPEN);
    }
  }, 60_000);

  test("a killed Redis still reads as down, refuses new connections with 1013, and heals", async () => {
    const room = "chat:killed";
    const sub = await connect(b, "killed-b");
    expect(await sub.request({ type: "subscribe", room })).toMatchObject({ type: "subscribed" });
    await redis.kill();
    try {
      await until(async () => (await ready(a)) === 503, { what: "a to read Redis as down" });
      const refused = await publish(a, room, { n: 1 });
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe("unavailable");
      expect(await attempt(a, "killed-new")).toMatchObject({ code: 1013 });
      expect(events(a, "redis unreachable").length).toBeGreaterThan(0);
    } finally {
      await redis.start();
    }
    for (const node of [a, b]) {
      await until(async () => (await ready(node)) === 200, { what: "ready again" });
    }
    const healed = await publish(a, room, { n: 2 });
    expect(healed.status).toBe(200);
    const got = await sub.next((f) => f.type === "message" && f.room === room);
    expect(got.data).toEqual({ n: 2 });
    expect(sub.socket.readyState).toBe(WebSocket.OPEN);
  }, 60_000);
});
