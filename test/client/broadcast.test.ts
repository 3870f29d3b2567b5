/**
 * Broadcasts across disconnections, against real node processes: the ones sent while a client
 * was away are read back with `history`, once each and in order, and a client is told when
 * some are gone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { EdgepushClient } from "../../src/client/client.ts";
import type { ClientOptions, Position, RecoveryInfo } from "../../src/client/types.ts";
import { historyWritten } from "../support/metrics.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { until } from "../support/wait.ts";
import { clientFor, collectBroadcasts, stateWhere } from "./helpers.ts";

const clients: EdgepushClient[] = [];
const nodes: NodeProcess[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(nodes.splice(0).map((n) => n.kill()));
});

async function start(opts: Parameters<typeof spawnNode>[0] = {}): Promise<NodeProcess> {
  const node = await spawnNode(opts);
  nodes.push(node);
  return node;
}

function client(node: NodeProcess, user: string, opts: Partial<ClientOptions> = {}) {
  const made = clientFor(node.ws, user, opts);
  clients.push(made.client);
  return made.client;
}

/** Broadcasts `data` through the HTTP API and returns its position. */
async function broadcast(node: NodeProcess, data: unknown): Promise<Position> {
  const res = await node.api("/v1/broadcast", { body: { data } });
  expect(res.status).toBe(200);
  const { offset, epoch } = await res.json();
  return { offset, epoch };
}

/** The next `broadcastRecovery` of `c`. */
function nextRecovery(c: EdgepushClient): Promise<RecoveryInfo> {
  return new Promise((resolve) => c.once("broadcastRecovery", resolve));
}

/** Resolves once the client knows where its broadcasts resume from. */
function positionKnown(c: EdgepushClient): Promise<void> {
  return until(() => c.broadcastPosition !== undefined, { what: "the broadcast position" });
}

/**
 * A WebSocket that, while `gate.open` is false, dials a port nobody listens on instead of the
 * node: the client keeps failing and retrying, so it stays away for as long as a test needs.
 */
async function gatedWebSocket(gate: { open: boolean }): Promise<ClientOptions["WebSocket"]> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const closed = `ws://127.0.0.1:${probe.port}/v1/ws`;
  probe.stop(true);
  return class extends WebSocket {
    constructor(url: string) {
      super(gate.open ? url : closed);
    }
  };
}

test("a node killed and restarted while broadcasts were sent: the client gets every one once, in order", async () => {
  let node = await start();
  const gate = { open: true };
  const c = client(node, "alice", { WebSocket: await gatedWebSocket(gate) });
  const got = collectBroadcasts(c);
  const recoveries: RecoveryInfo[] = [];
  c.on("broadcastRecovery", (r) => recoveries.push(r));
  await c.connect();
  await broadcast(node, 1);
  await got.waitFor(1);

  await historyWritten(node, 1);
  gate.open = false;
  const lost = stateWhere(c, (s) => s.state === "reconnecting");
  await node.kill();
  await lost;
  node = await start(node.again());
  for (const n of [2, 3, 4, 5]) await broadcast(node, n);
  const recovered = nextRecovery(c);
  gate.open = true;

  expect(await recovered).toMatchObject({
    room: "$broadcast",
    recovered: true,
    since: { offset: 1 },
    latest: { offset: 5 },
  });
  await broadcast(node, 6);
  const messages = await got.waitFor(6);
  expect(messages.map((m) => m.data)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(messages.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(recoveries).toHaveLength(1);
});

test("a node that lost its history (another epoch) reports recovered: false, then delivers live broadcasts", async () => {
  const node = await start();
  const c = client(node, "bob");
  const got = collectBroadcasts(c);
  await c.connect();
  const first = await broadcast(node, "old");
  await got.waitFor(1);

  const lost = stateWhere(c, (s) => s.state === "reconnecting");
  await node.kill();
  await lost;
  const recovered = nextRecovery(c);
  const fresh = await start({ port: node.port }); // a new folder: the sequence starts again
  const info = await recovered;
  expect(info).toMatchObject({ recovered: false, since: first, latest: { offset: 0 } });
  expect(info.latest.epoch).not.toBe(first.epoch);

  await broadcast(fresh, "new");
  expect((await got.waitFor(2)).map((m) => [m.data, m.offset])).toEqual([
    ["old", 1],
    ["new", 1],
  ]);
});

describe("one node", () => {
  let node: NodeProcess;
  beforeAll(async () => {
    // Pages of 10: recovering more than that takes several history reads.
    node = await spawnNode({ config: "limits:\n  historyLimit: 10\n" });
  });
  afterAll(() => node.kill());

  test("a client that saw no broadcast before it went away still gets the ones sent meanwhile", async () => {
    await broadcast(node, "before");
    const c = client(node, "carol");
    const got = collectBroadcasts(c);
    await c.connect();
    await positionKnown(c);
    const start = c.broadcastPosition;
    expect(start?.offset).toBeGreaterThan(0);
    expect(got.messages).toEqual([]);

    c.close();
    const sent = [];
    for (const n of [1, 2, 3]) sent.push(await broadcast(node, n));
    const recovered = nextRecovery(c);
    await c.connect();
    expect(await recovered).toMatchObject({ recovered: true, since: start, latest: sent[2] });
    expect(got.messages.map((m) => m.data)).toEqual([1, 2, 3]);
    expect(c.broadcastPosition).toEqual(sent[2] as Position);
  });

  test("many missed broadcasts arrive in order, then the live ones sent during recovery, each once", async () => {
    const c = client(node, "dave");
    const got = collectBroadcasts(c);
    await c.connect();
    await positionKnown(c);
    c.close();
    for (let n = 0; n < 35; n++) await broadcast(node, n);

    // Published as the client reconnects, while it reads what it missed.
    let live: Promise<unknown> = Promise.resolve();
    c.once("connected", () => {
      live = (async () => {
        for (let n = 35; n < 40; n++) await broadcast(node, n);
      })();
    });
    const recovered = nextRecovery(c);
    await c.connect();
    expect((await recovered).recovered).toBe(true);
    await live;
    const messages = await got.waitFor(40);
    expect(messages.map((m) => m.data)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const offsets = messages.map((m) => m.offset);
    expect(offsets).toEqual(offsets.map((_, i) => (offsets[0] as number) + i));
  });

  test("a connection that ends while it recovers emits nothing; the next one recovers everything once", async () => {
    const c = client(node, "hank");
    const got = collectBroadcasts(c);
    const recoveries: RecoveryInfo[] = [];
    c.on("broadcastRecovery", (r) => recoveries.push(r));
    await c.connect();
    await broadcast(node, 0);
    await got.waitFor(1);
    c.close();
    let last: Position | undefined;
    for (let n = 1; n <= 25; n++) last = await broadcast(node, n);

    // The first reconnection ends as soon as it is accepted, its history read unanswered.
    c.once("connected", () => {
      c.close();
      void c.connect();
    });
    const recovered = nextRecovery(c);
    await c.connect().catch(() => {}); // rejected by the close in the listener
    expect(await recovered).toMatchObject({ recovered: true, latest: last as Position });
    expect(got.messages.map((m) => m.data)).toEqual(Array.from({ length: 26 }, (_, i) => i));
    expect(recoveries).toHaveLength(1);
  });

  test("with recoverBroadcasts: false only live broadcasts arrive, and no recovery is reported", async () => {
    const c = client(node, "erin", { recoverBroadcasts: false });
    const got = collectBroadcasts(c);
    const recoveries: RecoveryInfo[] = [];
    c.on("broadcastRecovery", (r) => recoveries.push(r));
    await c.connect();
    await broadcast(node, "live 1");
    await got.waitFor(1);
    c.close();
    await broadcast(node, "missed");
    await c.connect();
    await broadcast(node, "live 2");
    expect((await got.waitFor(2)).map((m) => m.data)).toEqual(["live 1", "live 2"]);
    expect(recoveries).toEqual([]);
    expect(c.broadcastPosition?.offset).toBe(got.messages[1]?.offset);
  });
});

describe("a short history", () => {
  let node: NodeProcess;
  beforeAll(async () => {
    // $broadcast is a system room: it takes the default namespace's options.
    node = await spawnNode({ config: "namespaces:\n  default:\n    historySize: 3\n" });
  });
  afterAll(() => node.kill());

  test("broadcasts trimmed from history while the client was away are reported with recovered: false", async () => {
    const c = client(node, "frank");
    const got = collectBroadcasts(c);
    await c.connect();
    const first = await broadcast(node, 1);
    await got.waitFor(1);
    c.close();
    let last = first;
    for (let n = 2; n <= 10; n++) last = await broadcast(node, n);

    const recovered = nextRecovery(c);
    await c.connect();
    expect(await recovered).toEqual({
      room: "$broadcast",
      recovered: false,
      since: first,
      latest: last,
    });
    await broadcast(node, 11);
    expect((await got.waitFor(2)).map((m) => m.data)).toEqual([1, 11]);
  });
});

describe("no history kept", () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await spawnNode({ config: "namespaces:\n  default:\n    historySize: 0\n" });
  });
  afterAll(() => node.kill());

  test("a client cannot prove it missed nothing, so it reports recovered: false; live broadcasts go on", async () => {
    for (const n of [1, 2]) await broadcast(node, n); // gone at once: history keeps none
    const c = client(node, "gina");
    const got = collectBroadcasts(c);
    const recoveries: RecoveryInfo[] = [];
    c.on("broadcastRecovery", (r) => recoveries.push(r));
    await c.connect();
    await positionKnown(c);
    const third = await broadcast(node, 3);
    await got.waitFor(1);
    expect(recoveries).toEqual([]); // an empty history at the start is no sign of a loss

    c.close();
    await broadcast(node, 4);
    const recovered = nextRecovery(c);
    await c.connect();
    expect(await recovered).toMatchObject({ recovered: false, since: third });
    await broadcast(node, 5);
    expect((await got.waitFor(2)).map((m) => m.data)).toEqual([3, 5]);
    expect(recoveries).toHaveLength(1);
  });
});
