/**
 * Conformance: close codes (PROTOCOL.md, "Close codes"), each shown by the situation that
 * causes it. 1011 (internal error) is not here: a correct server cannot be made to fail
 * from outside.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { until } from "../support/wait.ts";
import { StalledSocket, signed } from "./wire.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
ws:
  connectTimeoutSeconds: 1
auth:
  clockToleranceSeconds: 0
limits:
  maxFrameBytes: 4096
  framesPerSecond: 20
  rateLimitStrikes: 5
  badFrames: 3
  maxConnections: 30
  backpressureBytes: 65536
  apiRequestsPerSecond: 100000
`,
  });
});
afterAll(() => node.kill());

const closeOf = async (c: TestClient) => (await c.closed).code;

test("1000: a client's normal close is answered with 1000", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  c.close(1000);
  expect(await closeOf(c)).toBe(1000);
});

test("1008: repeated bad frames", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  for (let i = 0; i < 3; i++) c.send("garbage");
  expect(await closeOf(c)).toBe(1008);
});

test("1009: a frame larger than maxFrameBytes", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  c.send({ type: "publish", room: "big", data: "x".repeat(5000) });
  expect(await closeOf(c)).toBe(1009);
});

test("1013: a connection past maxConnections", async () => {
  const open: TestClient[] = [];
  let refused: number | undefined;
  for (let i = 0; i < 35 && refused === undefined; i++) {
    const c = await TestClient.open(`${node.ws}?token=${await signed(`many-${i}`)}`);
    const first = await Promise.race([
      c.next(),
      c.closed.then((x) => ({ type: "closed", code: x.code })),
    ]);
    if (first.type === "closed") refused = first.code;
    else open.push(c);
  }
  expect(refused).toBe(1013);
  for (const c of open) c.close();
  await Promise.all(open.map((c) => c.closed));
});

test("4001: a missing or invalid token", async () => {
  const c = await TestClient.open(`${node.ws}?token=garbage`);
  expect(await closeOf(c)).toBe(4001);
});

test("4003: disconnected by the server API", async () => {
  const c1 = await TestClient.connect(node.ws, "kicked");
  const c2 = await TestClient.connect(node.ws, "kicked");
  const res = await node.api("/v1/users/kicked/disconnect", { body: {} });
  expect(await res.json()).toEqual({ disconnected: 2 });
  expect(await closeOf(c1)).toBe(4003);
  expect(await closeOf(c2)).toBe(4003);
});

test("4004: the token expires while connected, without a refresh", async () => {
  const c = await TestClient.connect(node.ws, "alice", await signed("alice", 2));
  expect(await closeOf(c)).toBe(4004);
});

test("4008: a consumer that stops reading while data piles up", async () => {
  const stalled = await StalledSocket.open(node.port, `/v1/ws?token=${await signed("slow")}`);
  const online = async () => (await (await node.api("/v1/users/slow")).json()).online === true;
  await until(online, { what: "the stalled connection to be accepted" });
  const big = "y".repeat(3000);
  for (let batch = 0; batch < 100 && (await online()); batch++) {
    const sends = Array.from({ length: 20 }, () =>
      node.api("/v1/send", { body: { to: "slow", data: big } }),
    );
    for (const res of await Promise.all(sends)) expect(res.status).toBe(200);
  }
  expect(await online()).toBe(false);
  expect(await stalled.closeCode()).toBe(4008);
});

test("4009: no connect frame within connectTimeout", async () => {
  const c = await TestClient.open(node.ws);
  expect(await closeOf(c)).toBe(4009);
});

test("4029: rate limited again and again", async () => {
  const c = await TestClient.connect(node.ws, "alice");
  for (let i = 1; i <= 60; i++) c.send({ type: "ping", id: i });
  expect(await closeOf(c)).toBe(4029);
});

describe("1012: a draining node", () => {
  let draining: NodeProcess;
  beforeAll(async () => {
    draining = await spawnNode();
  });
  afterAll(() => draining.kill());

  test("closes every connection with 1012 on SIGTERM, then exits", async () => {
    const clients = await Promise.all(
      ["a", "b", "c"].map((u) => TestClient.connect(draining.ws, u)),
    );
    const exit = draining.stop("SIGTERM");
    const codes = await Promise.all(clients.map(closeOf));
    expect(codes).toEqual([1012, 1012, 1012]);
    expect(await exit).toBe(0);
  });
});
