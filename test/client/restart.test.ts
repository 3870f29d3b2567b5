/**
 * The SDK against real node processes that die, drain and restart: every message the server
 * acknowledged reaches the subscriber exactly once, in order.
 */
import { afterEach, expect, test } from "bun:test";
import type { EdgepushClient } from "../../src/client/client.ts";
import type { RecoveryInfo } from "../../src/client/types.ts";
import { historyWritten } from "../support/metrics.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { clientFor, collect, stateWhere } from "./helpers.ts";

const running: NodeProcess[] = [];
const clients: EdgepushClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(running.splice(0).map((n) => n.kill()));
});

async function start(opts: Parameters<typeof spawnNode>[0] = {}): Promise<NodeProcess> {
  const node = await spawnNode(opts);
  running.push(node);
  return node;
}

/** Publishes `data` through the HTTP API; the acknowledged offset, or undefined if refused. */
async function publish(
  node: NodeProcess,
  room: string,
  data: unknown,
): Promise<number | undefined> {
  try {
    const res = await node.api("/v1/publish", { body: { room, data } });
    if (res.status !== 200) return undefined;
    return (await res.json()).offset;
  } catch {
    return undefined; // the node is down: not acknowledged
  }
}

test("a node killed (kill -9, history written) and restarted mid-stream: every acknowledged message arrives once, in order", async () => {
  let node = await start();
  const { client, states } = clientFor(node.ws, "alice");
  clients.push(client);
  const sub = client.subscribe("feed");
  const got = collect(sub);
  const recoveries: RecoveryInfo[] = [];
  sub.on("recovery", (r) => recoveries.push(r));
  await client.connect();

  const acked: number[] = [];
  const publishRange = async (from: number, to: number) => {
    for (let i = from; i < to; i++)
      if ((await publish(node, "feed", i)) !== undefined) acked.push(i);
  };
  await publishRange(0, 40);
  await historyWritten(node, acked.length);
  const lost = stateWhere(client, (s) => s.state === "reconnecting");
  const killing = node.kill();
  await publishRange(40, 45); // refused while the node dies
  await killing;
  await lost;
  node = await start(node.again());
  await publishRange(45, 100);

  // On failure, show how the resubscription went next to what arrived.
  const messages = await got.waitFor(acked.length, 15_000).catch(() => got.messages);
  expect({
    data: messages.map((m) => m.data),
    recovered: recoveries.map((r) => r.recovered),
  }).toEqual({
    data: acked,
    recovered: [true],
  });
  const offsets = messages.map((m) => m.offset);
  expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  expect(states.some((s) => s.state === "reconnecting")).toBe(true);
  expect(client.state).toBe("connected");
});

test("a drain (1012) reconnects at once and recovers what was published meanwhile", async () => {
  let node = await start();
  // A long backoff: only an immediate reconnect can be quick.
  const { client, opened } = clientFor(node.ws, "bob", { backoff: { baseMs: 2000, maxMs: 2000 } });
  clients.push(client);
  const got = collect(client.subscribe("drained"));
  await client.connect();
  for (let i = 0; i < 5; i++) await publish(node, "drained", i);
  await got.waitFor(5);

  const drained = stateWhere(client, (s) => s.code === 1012);
  const stopped = node.stop("SIGTERM");
  const change = await drained;
  const closedAt = performance.now();
  expect(change).toMatchObject({ state: "reconnecting", code: 1012, delayMs: 0 });
  await stopped;
  expect(opened.length).toBeGreaterThanOrEqual(2);
  expect((opened[1] as number) - closedAt).toBeLessThan(100);

  const sub = client.subscriptions.get("drained");
  const recovered = new Promise((resolve) => sub?.once("recovery", resolve));
  node = await start(node.again());
  for (let i = 5; i < 10; i++) await publish(node, "drained", i);
  const messages = await got.waitFor(10);
  expect(messages.map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(await recovered).toMatchObject({ recovered: true, since: { offset: 5 } });
});

test("a node that goes silent is given up after ping + 10 s and reconnected to", async () => {
  const node = await start({ config: "ws:\n  pingSeconds: 1\n" });
  const { client } = clientFor(node.ws, "carol");
  clients.push(client);
  const got = collect(client.subscribe("silent"));
  await client.connect();
  await publish(node, "silent", 1);
  await got.waitFor(1);

  const dropped = stateWhere(client, (s) => s.state === "reconnecting");
  node.proc.kill("SIGSTOP"); // the socket stays open, but nothing comes through
  const stoppedAt = performance.now();
  const change = await dropped;
  const silentFor = performance.now() - stoppedAt;
  node.proc.kill("SIGCONT");
  expect(change.reason).toContain("no frame from the server");
  expect(silentFor).toBeGreaterThan(10_000);
  expect(silentFor).toBeLessThan(12_500);

  await stateWhere(client, (s) => s.state === "connected");
  await publish(node, "silent", 2);
  expect((await got.waitFor(2)).map((m) => m.data)).toEqual([1, 2]);
});
