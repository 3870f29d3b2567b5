import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Frame, TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";

const ROOM = "ship:drain";
const SUBSCRIBERS = 5;
const ACKS_BEFORE_SIGTERM = 30;
const DRAIN_TIMEOUT_SECONDS = 10;

// The room keeps every message the test publishes, so the history read back is complete.
const ROOM_CONFIG = `namespaces:
  ship:
    historySize: 100000
    historyTtlSeconds: 0
`;
// Closing one socket per batch, a quarter second apart, keeps the node draining for over a
// second: long enough to ask it for readiness and a new connection while it drains.
const DRAIN_CONFIG = `${ROOM_CONFIG}drain:
  batchSize: 1
  batchIntervalMs: 250
  timeoutSeconds: ${DRAIN_TIMEOUT_SECONDS}
`;

interface Ack {
  offset: number;
  epoch: string;
  n: number;
}

/** Publishes {n} one after another until the socket closes; resolves with every ack. */
async function publishUntilClosed(
  client: TestClient,
  onAck: (count: number) => void,
): Promise<Ack[]> {
  const acks: Ack[] = [];
  for (let n = 1; ; n++) {
    let reply: Frame;
    try {
      reply = await client.request({ type: "publish", room: ROOM, data: { n } });
    } catch {
      return acks; // the socket closed before this publish was answered: not acknowledged
    }
    if (reply.type !== "ack") return acks;
    acks.push({ offset: reply.offset, epoch: reply.epoch, n });
    onAck(acks.length);
  }
}

describe("draining a node on SIGTERM", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgepush-drain-"));
  const nodes: NodeProcess[] = [];
  const clients: TestClient[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const node of nodes) await node.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test("loses no acknowledged message, and its clients recover on another node", async () => {
    // Two nodes on one history database, as machines share Turso: `a` drains, `b` takes over.
    const a = await spawnNode({ dir, config: DRAIN_CONFIG });
    const b = await spawnNode({ dir, config: ROOM_CONFIG });
    nodes.push(a, b);

    const subscribers: TestClient[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const c = await TestClient.connect(a.ws, `reader${i}`);
      expect((await c.request({ type: "subscribe", room: ROOM })).type).toBe("subscribed");
      subscribers.push(c);
    }
    const publisher = await TestClient.connect(a.ws, "writer");
    // A socket that has not authenticated yet (no token, no connect frame) is drained too.
    const silent = await TestClient.open(a.ws);
    clients.push(...subscribers, publisher, silent);

    let signalled = false;
    let signalledAt = 0;
    const exited = a.proc.exited;
    const published = publishUntilClosed(publisher, (count) => {
      if (count < ACKS_BEFORE_SIGTERM || signalled) return;
      signalled = true;
      signalledAt = performance.now();
      a.proc.kill("SIGTERM");
    });

    // While it drains: not ready, and no new connections.
    await a.waitForLog((l) => l.event === "draining");
    const ready = await fetch(`${a.http}/v1/ready`);
    expect(ready.status).toBe(503);
    const refused = await TestClient.open(`${a.ws}?token=x`);
    expect((await refused.closed).code).toBe(1012);
    // Still draining when asked: some sockets had not been closed yet.
    expect(subscribers.some((c) => c.socket.readyState === WebSocket.OPEN)).toBe(true);

    // Every socket is closed with 1012, and the node exits cleanly within its drain timeout.
    const codes = await Promise.all(
      [...subscribers, publisher].map(async (c) => (await c.closed).code),
    );
    expect(codes).toEqual(Array(SUBSCRIBERS + 1).fill(1012));
    expect((await silent.closed).code).toBe(1012);
    // The drain's count covers the subscribers, the publisher and the silent socket; the one
    // opened while draining was refused on open, outside that count.
    const summary = a.logs.find((l) => l.event === "drain closed sockets");
    expect(summary?.closed).toBe(SUBSCRIBERS + 2);
    expect(await exited).toBe(0);
    expect((performance.now() - signalledAt) / 1000).toBeLessThan(DRAIN_TIMEOUT_SECONDS + 5);
    const acks = await published;
    expect(acks.length).toBeGreaterThanOrEqual(ACKS_BEFORE_SIGTERM);
    expect(acks.map((x) => x.offset)).toEqual(acks.map((_, i) => i + 1));

    // The history read from the other node holds every acknowledged message. A publish that
    // the node stored but could not acknowledge before closing may follow them.
    const res = await b.api(`/v1/rooms/${encodeURIComponent(ROOM)}/history?limit=1000`);
    expect(res.status).toBe(200);
    const history = (await res.json()) as { messages: Frame[] };
    const stored = history.messages.map((m) => [m.offset, m.data.n]);
    expect(stored.slice(0, acks.length)).toEqual(acks.map((x) => [x.offset, x.n]));
    expect(stored.map(([offset]) => offset)).toEqual(stored.map((_, i) => i + 1));

    // Each subscriber reconnects to the other node and recovers what it missed, once each.
    for (const [i, old] of subscribers.entries()) {
      const live = old.all((f) => f.type === "message" && f.room === ROOM);
      const last = live.at(-1);
      expect(last).toBeDefined();
      const c = await TestClient.connect(b.ws, `reader${i}`);
      clients.push(c);
      const since = { offset: last?.offset, epoch: last?.epoch };
      const reply = await c.request({ type: "subscribe", room: ROOM, since });
      expect(reply).toMatchObject({ type: "subscribed", recovered: true, offset: stored.length });
      const replayed = await c.take(
        stored.length - (last?.offset ?? 0),
        (f) => f.type === "message",
      );
      expect([...live, ...replayed].map((m) => [m.offset, m.data.n])).toEqual(stored);
    }
  }, 60_000);
});
