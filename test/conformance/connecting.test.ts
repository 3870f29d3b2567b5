/**
 * Conformance: connecting (PROTOCOL.md, "Connecting"). Each test is one exchange a client
 * must be able to rely on, against a real node over a plain WebSocket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { messageIn, signed } from "./wire.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
ws:
  connectTimeoutSeconds: 1
auth:
  clockToleranceSeconds: 0
`,
  });
});
afterAll(() => node.kill());

describe("opening a connection", () => {
  test("with ?token= the first frame is `connected`, without an id", async () => {
    const c = await TestClient.open(`${node.ws}?token=${await signed("alice")}`);
    const f = await c.next();
    expect(f).toEqual({
      type: "connected",
      client: expect.stringMatching(/^c_/),
      user: "alice",
      node: expect.any(String),
      region: expect.any(String),
      ping: expect.any(Number),
      inbox: { offset: expect.any(Number), epoch: expect.any(String) },
    });
    expect(f.inbox.epoch.length).toBeGreaterThan(0);
    c.close();
  });

  test("with ?token=, `connected` comes first even when bad frames arrive during authentication", async () => {
    for (let i = 0; i < 10; i++) {
      const c = await TestClient.open(`${node.ws}?token=${await signed(`early-${i}`)}`);
      c.socket.send(new Uint8Array([1, 2, 3]));
      c.socket.send(JSON.stringify({ type: "nope", id: 5 }));
      c.socket.send(JSON.stringify({ type: "subscribe", id: 6 }));
      expect((await c.next()).type).toBe("connected");
      expect(await c.next()).toMatchObject({ type: "error", code: "bad_request" });
      expect(await c.next()).toMatchObject({ type: "error", id: 5, code: "unknown_type" });
      expect(await c.next()).toMatchObject({ type: "error", id: 6, code: "bad_request" });
      c.close();
    }
  });

  test("a `connect` frame is answered by `connected` carrying the frame's id", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1, token: await signed("bob") });
    expect(await c.next()).toMatchObject({ type: "connected", id: 1, user: "bob" });
    c.close();
  });

  test("connected.inbox.offset is the inbox's latest offset (0 when empty)", async () => {
    const fresh = await TestClient.connect(node.ws, "inbox-empty");
    expect(fresh.frames[0]?.inbox.offset).toBe(0);
    fresh.close();
    for (let i = 0; i < 3; i++)
      await node.api("/v1/send", { body: { to: "inbox-three", data: i } });
    const c = await TestClient.connect(node.ws, "inbox-three");
    expect(c.frames[0]?.inbox.offset).toBe(3);
    c.close();
  });

  test("without ?token=, no frame within connectTimeout closes with 4009", async () => {
    const c = await TestClient.open(node.ws);
    expect((await c.closed).code).toBe(4009);
  });

  test("without ?token=, any frame other than `connect` first closes with 4001", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "ping", id: 1 });
    expect((await c.closed).code).toBe(4001);
  });
});

describe("bad tokens: the upgrade succeeds, then the socket closes", () => {
  test("a token signed with another key closes with 4001 (in the URL)", async () => {
    const c = await TestClient.open(
      `${node.ws}?token=${await signed("eve", 3600, "x".repeat(40))}`,
    );
    expect((await c.closed).code).toBe(4001);
  });

  test("a token signed with another key closes with 4001 (in `connect`)", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1, token: await signed("eve", 3600, "x".repeat(40)) });
    expect((await c.closed).code).toBe(4001);
  });

  test("something that is not a JWT closes with 4001", async () => {
    const c = await TestClient.open(`${node.ws}?token=not-a-token`);
    expect((await c.closed).code).toBe(4001);
  });

  test("an expired, correctly signed token closes with 4004 (in the URL)", async () => {
    const c = await TestClient.open(`${node.ws}?token=${await signed("alice", -60)}`);
    expect((await c.closed).code).toBe(4004);
  });

  test("an expired, correctly signed token closes with 4004 (in `connect`)", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1, token: await signed("alice", -60) });
    expect((await c.closed).code).toBe(4004);
  });

  test("without anonymous connections enabled, `connect` without a token closes with 4001", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1 });
    expect((await c.closed).code).toBe(4001);
  });
});

describe("recovering the inbox with connect.inbox", () => {
  test("the missed direct messages follow `connected`, which says recovered: true", async () => {
    const first = await TestClient.connect(node.ws, "carol");
    const inbox = first.frames[0]?.inbox;
    first.close();
    await first.closed;
    for (const text of ["a", "b", "c"]) {
      await node.api("/v1/send", { body: { to: "carol", data: { text } } });
    }

    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1, token: await signed("carol"), inbox });
    const connected = await c.next();
    expect(connected).toMatchObject({ type: "connected", id: 1, recovered: true });
    const missed = await c.take(3, messageIn("@carol"));
    expect(missed.map((m) => m.offset)).toEqual([
      inbox.offset + 1,
      inbox.offset + 2,
      inbox.offset + 3,
    ]);
    expect(missed.map((m) => m.data.text)).toEqual(["a", "b", "c"]);
    c.close();
  });

  test("an inbox position of another epoch says recovered: false and replays nothing", async () => {
    await node.api("/v1/send", { body: { to: "dave", data: "kept" } });
    const c = await TestClient.open(node.ws);
    c.send({
      type: "connect",
      id: 1,
      token: await signed("dave"),
      inbox: { offset: 0, epoch: "nope" },
    });
    expect(await c.next()).toMatchObject({ type: "connected", recovered: false });
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    expect(c.all(messageIn("@dave"))).toHaveLength(0);
    c.close();
  });

  test("with ?token= the inbox is read with `history` on the client's own inbox", async () => {
    await node.api("/v1/send", { body: { to: "erin", data: "while away" } });
    const c = await TestClient.connect(node.ws, "erin");
    const page = await c.request({ type: "history", room: "@erin", since: 0 });
    expect(page.messages.map((m: { data: unknown }) => m.data)).toEqual(["while away"]);
    c.close();
  });
});

describe("anonymous connections", () => {
  let open: NodeProcess;
  beforeAll(async () => {
    open = await spawnNode({ config: "auth:\n  anonymous: true\n" });
  });
  afterAll(() => open.kill());

  test("where the config enables them, the user id is anon:<client id>", async () => {
    const c = await TestClient.open(open.ws);
    c.send({ type: "connect", id: 1 });
    const f = await c.next();
    expect(f.type).toBe("connected");
    expect(f.user).toBe(`anon:${f.client}`);
    c.close();
  });
});
