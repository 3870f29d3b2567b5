import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { type Frame, TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { until } from "../support/wait.ts";
import { clusterEnv } from "./harness.ts";

/**
 * A gap no source can fill: each node keeps its own history file (so node a's file lacks what
 * b published) and Redis keeps only 5 messages per room. Node a's subscription to the cluster
 * channel is cut while b publishes 40 messages; a must give those up once, not ask for them
 * again with every later message, and go on delivering.
 */
let redis: RedisServer;
let dir: string;
let a: NodeProcess;
let b: NodeProcess;
const clients: TestClient[] = [];

const launch = (id: string) =>
  spawnNode({
    config: "broker:\n  hotHistorySize: 5\n",
    env: clusterEnv("redis", redis, undefined, join(dir, `${id}.db`), id),
  });

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), "edgepush-gaps-"));
  a = await launch("a");
  b = await launch("b");
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a, b].map((n) => n?.stop()));
  await redis?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

async function metric(node: NodeProcess, name: string): Promise<number> {
  const text = await (await node.api("/metrics")).text();
  return Number(text.match(new RegExp(`^${name} (\\d+)$`, "m"))?.[1] ?? Number.NaN);
}

test("a gap that cannot be filled is given up once, and later messages still arrive", async () => {
  const room = "gaps:r";
  const reader = await TestClient.connect(a.ws, "gap-reader");
  clients.push(reader);
  await reader.request({ type: "subscribe", room });
  const publish = (data: unknown) => b.api("/v1/publish", { body: { room, data } });
  for (let i = 1; i <= 3; i++) await publish(i);
  await until(() => reader.all((f) => f.type === "message").length === 3, { what: "1..3 at a" });

  // Cut a's subscriber connection, then publish a burst it will not hear.
  const admin = new RedisClient(redis.url);
  const list = String(await admin.send("CLIENT", ["LIST", "TYPE", "pubsub"]));
  const id = list
    .split("\n")
    .find((l) => l.includes("name=edgepush:a:sub"))
    ?.match(/^id=(\d+)/)?.[1];
  if (!id) throw new Error(`no subscriber connection of a in:\n${list}`);
  await admin.send("CLIENT", ["KILL", "ID", id]);
  admin.close();
  for (let i = 4; i <= 43; i++) await publish(i);

  // Later messages reach the reader, after a gap it was not given.
  await until(async () => (await metric(a, "edgepush_broker_up")) === 1, { what: "a back up" });
  for (let i = 44; i <= 50; i++) await publish(i);
  await until(() => reader.all((f: Frame) => f.type === "message").some((m) => m.offset === 50), {
    what: "offset 50 at a",
  });
  const offsets = reader.all((f: Frame) => f.type === "message").map((m) => m.offset);
  expect(offsets.slice(0, 3)).toEqual([1, 2, 3]);
  expect(offsets.slice(-7)).toEqual([44, 45, 46, 47, 48, 49, 50]);
  expect(new Set(offsets).size).toBe(offsets.length);
  expect([...offsets].sort((x, y) => x - y)).toEqual(offsets);
  // Given up a bounded number of times, not once per later message or tick.
  expect(await metric(a, "edgepush_gaps_lost_total")).toBeLessThanOrEqual(3);
});
