import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { type Frame, TestClient, tokenFor } from "../support/client.ts";
import { historyWritten } from "../support/metrics.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";

const dirs: string[] = [];
const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) await n.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(opts: Parameters<typeof spawnNode>[0] = {}): Promise<NodeProcess> {
  const node = await spawnNode(opts);
  nodes.push(node);
  return node;
}

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "edgepush-history-e2e-"));
  dirs.push(dir);
  return dir;
}

async function connect(node: NodeProcess, user: string): Promise<TestClient> {
  const c = await TestClient.connect(node.ws, user);
  clients.push(c);
  return c;
}

const messages = (c: TestClient, n: number) => c.take(n, (f) => f.type === "message");
const dataOf = (frames: Frame[]) => frames.map((f) => [f.offset, f.data]);

/**
 * A subscriber reads offsets 1..5, goes away, 6..12 are published, the node restarts in the
 * way `restart` says, and the subscriber comes back to the new process.
 */
async function recoverAcross(restart: (node: NodeProcess) => Promise<void>) {
  const first = await start({ dir: freshDir() });
  const room = "e2e:restart";
  const publish = (node: NodeProcess, n: number) =>
    node.api("/v1/publish", { body: { room, data: { n } } });

  const reader = await connect(first, "reader");
  const sub = await reader.request({ type: "subscribe", room });
  for (let n = 1; n <= 5; n++) expect((await publish(first, n)).status).toBe(200);
  const seen = await messages(reader, 5);
  reader.close();
  await reader.closed;
  for (let n = 6; n <= 12; n++) expect((await publish(first, n)).status).toBe(200);

  await restart(first);
  const second = await start(first.again());
  const back = await connect(second, "reader");
  const since = { offset: (seen.at(-1) as Frame).offset, epoch: sub.epoch };
  const r = await back.request({ type: "subscribe", room, since });
  expect(r).toMatchObject({ type: "subscribed", offset: 12, epoch: sub.epoch, recovered: true });
  const missed = await messages(back, 7);
  expect(dataOf(missed)).toEqual(Array.from({ length: 7 }, (_, k) => [k + 6, { n: k + 6 }]));

  expect((await publish(second, 13)).status).toBe(200);
  const live = await back.next((f) => f.type === "message");
  expect([live.offset, live.epoch, live.data]).toEqual([13, sub.epoch, { n: 13 }]);
  expect(back.all((f) => f.type === "message")).toHaveLength(8);
}

describe("history across node restarts", () => {
  test("after a graceful restart a client recovers exactly the messages it missed, in order", async () => {
    await recoverAcross(async (node) => {
      expect(await node.stop("SIGTERM")).toBe(0);
    });
  });

  test("after kill -9 once the flush delay passed, a client recovers exactly what it missed", async () => {
    await recoverAcross(async (node) => {
      await historyWritten(node, 12);
      await node.kill();
    });
  });

  test("after kill -9 before the flush, the room starts a new epoch and no offset is reused", async () => {
    const first = await start({ dir: freshDir(), config: "history:\n  flushMs: 60000\n" });
    const room = "e2e:crash";
    const acks: Frame[] = [];
    for (let n = 1; n <= 5; n++) {
      acks.push(await (await first.api("/v1/publish", { body: { room, data: n } })).json());
    }
    await first.kill();

    const second = await start(first.again());
    const reader = await connect(second, "reader");
    const last = acks.at(-1) as Frame;
    const r = await reader.request({
      type: "subscribe",
      room,
      since: { offset: last.offset, epoch: last.epoch },
    });
    expect(r.recovered).toBe(false);
    expect(r.epoch).not.toBe(last.epoch);
    const next = await (await second.api("/v1/publish", { body: { room, data: 6 } })).json();
    expect(next.epoch).toBe(r.epoch);
    expect(next.offset).toBe(r.offset + 1);
  });

  test("after kill -9, what was written stays readable in history, under its own epoch", async () => {
    const first = await start({ dir: freshDir() });
    const room = "e2e:kept";
    for (let n = 1; n <= 10; n++) await first.api("/v1/publish", { body: { room, data: n } });
    await historyWritten(first);
    const unwritten = (await (
      await first.api("/v1/publish", { body: { room, data: 11 } })
    ).json()) as Frame;
    await first.kill();

    const second = await start(first.again());
    const after = (await (
      await second.api("/v1/publish", { body: { room, data: "new" } })
    ).json()) as Frame;
    const page = (await (await second.api(`/v1/rooms/${room}/history?since=0`)).json()) as Frame;
    const rows = page.messages.map((m: Frame) => [m.offset, m.data, m.epoch]);
    // Offsets 1..10 were written before the kill; 11 was not, or was: either way no offset
    // holds two messages, and the new sequence continues after what was written.
    expect(page.epoch).toBe(after.epoch);
    expect(rows.slice(0, 10)).toEqual(
      Array.from({ length: 10 }, (_, i) => [i + 1, i + 1, unwritten.epoch]),
    );
    expect(rows.at(-1)).toEqual([after.offset, "new", after.epoch]);
    expect(new Set(rows.map((r: unknown[]) => r[0])).size).toBe(rows.length);
  });

  test("a user's empty inbox epoch holds across restarts, so its first direct messages are recovered", async () => {
    const first = await start({ dir: freshDir() });
    const carol = await connect(first, "carol");
    const inbox = carol.frames[0]?.inbox as { offset: number; epoch: string };
    carol.close();
    await carol.closed;
    expect(await first.stop("SIGTERM")).toBe(0);

    const second = await start(first.again());
    expect((await second.api("/v1/send", { body: { to: "carol", data: "first" } })).status).toBe(
      200,
    );
    const back = await TestClient.open(second.ws);
    clients.push(back);
    const connected = await back.request({
      type: "connect",
      token: await tokenFor("carol"),
      inbox,
    });
    expect(connected).toMatchObject({ recovered: true, inbox: { offset: 1, epoch: inbox.epoch } });
    expect((await back.next((f) => f.type === "message")).data).toBe("first");
  });

  test("direct messages sent to an offline user arrive on connect through inbox recovery", async () => {
    const first = await start({ dir: freshDir() });
    const bob = await connect(first, "bob");
    const inbox = bob.frames[0]?.inbox as { offset: number; epoch: string };
    expect(inbox.offset).toBe(0);
    bob.close();
    await bob.closed;

    const alice = await connect(first, "alice");
    for (let n = 1; n <= 3; n++) {
      const ack = await alice.request({ type: "send", to: "bob", data: { n } });
      expect(ack).toMatchObject({ type: "ack", room: "@bob", offset: n, epoch: inbox.epoch });
    }
    const sent = await first.api("/v1/send", { body: { to: "bob", data: { n: 4 } } });
    expect(sent.status).toBe(200);
    await historyWritten(first, 4);
    await first.kill();

    const second = await start(first.again());
    const back = await TestClient.open(second.ws);
    clients.push(back);
    const connected = await back.request({ type: "connect", token: await tokenFor("bob"), inbox });
    expect(connected).toMatchObject({
      type: "connected",
      user: "bob",
      recovered: true,
      inbox: { offset: 4, epoch: inbox.epoch },
    });
    const dms = await messages(back, 4);
    expect(dms.map((f) => [f.room, f.offset, f.from, f.data])).toEqual([
      ["@bob", 1, "alice", { n: 1 }],
      ["@bob", 2, "alice", { n: 2 }],
      ["@bob", 3, "alice", { n: 3 }],
      ["@bob", 4, undefined, { n: 4 }],
    ]);
  });
});

describe("a database that cannot record a room's offsets", () => {
  test("refuses that room's publishes as unavailable, so a kill -9 then cannot reuse an offset", async () => {
    const dir = freshDir();
    const node = await start({ dir });
    const publish = (n: NodeProcess, room: string, data: unknown) =>
      n.api("/v1/publish", { body: { room, data } });
    expect((await publish(node, "marks:known", "before")).status).toBe(200);
    await historyWritten(node);

    // Another connection holds a write transaction on the database file.
    const other = createClient({ url: `file:${join(dir, "edgepush.db")}` });
    const tx = await other.transaction("write");
    await tx.execute("INSERT INTO rooms (room, epoch, last_offset) VALUES ('lock', 'x', 0)");
    try {
      for (const room of ["marks:fresh", "marks:known"]) {
        const res = await publish(node, room, "during the lock");
        expect(res.status).toBe(503);
        expect(((await res.json()) as Frame).error.code).toBe("unavailable");
      }
    } finally {
      await tx.rollback();
      other.close();
    }
    const acked = (await (await publish(node, "marks:fresh", "after")).json()) as Frame;
    expect(acked.offset).toBe(1);

    await node.kill();
    const again = await start(node.again());
    const next = (await (await publish(again, "marks:fresh", "restarted")).json()) as Frame;
    // Either the row was written (the sequence goes on) or the room got a new epoch.
    if (next.epoch === acked.epoch) expect(next.offset).toBe(2);
    else expect(next.epoch).not.toBe(acked.epoch);
    const history = (await (await again.api("/v1/rooms/marks:fresh/history")).json()) as Frame;
    expect(history.messages.some((m: Frame) => m.data === "during the lock")).toBe(false);
  });
});
