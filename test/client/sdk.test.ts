/**
 * The SDK against one real node: requests and replies, close codes that stop or retry,
 * tokens, and recovery after the client was away.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EdgepushError } from "../../src/protocol/codes.ts";
import { tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { until } from "../support/wait.ts";
import { clientFor, collect, stateWhere } from "./helpers.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
auth:
  clockToleranceSeconds: 0
namespaces:
  tiny:
    historySize: 3
  priv:
    subscribe: token
`,
  });
});
afterAll(() => node.kill());

describe("requests", () => {
  test("publish, send, presence and history resolve with the server's replies", async () => {
    const { client: alice } = clientFor(node.ws, "alice");
    const { client: bob } = clientFor(node.ws, "bob");
    const room = alice.subscribe("req:room", { presence: true });
    const got = collect(room);
    const joined = new Promise((resolve) => room.once("join", resolve));
    await alice.connect();
    await room.ready;
    await bob.connect();
    await bob.subscribe("req:room").ready;
    expect(await joined).toEqual({ room: "req:room", user: "bob" });

    const ack = await bob.publish("req:room", { text: "hi" });
    expect(ack).toEqual({ room: "req:room", offset: 1, epoch: expect.any(String) });
    expect((await got.waitFor(1))[0]).toMatchObject({ from: "bob", data: { text: "hi" } });
    expect((await alice.presence("req:room")).sort()).toEqual(["alice", "bob"]);
    const page = await alice.history("req:room", { since: 0 });
    expect(page.messages.map((m) => m.data)).toEqual([{ text: "hi" }]);

    const dm = new Promise((resolve) => alice.once("inbox", resolve));
    const sent = await bob.send("alice", { text: "psst" });
    expect(sent.room).toBe("@alice");
    expect(await dm).toMatchObject({ from: "bob", data: { text: "psst" } });
    alice.close();
    bob.close();
  });

  test("a refused request rejects with the server's error code", async () => {
    const { client } = clientFor(node.ws, "alice");
    await client.connect();
    const err = await client.publish("$broadcast", 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgepushError);
    expect((err as EdgepushError).code).toBe("forbidden");
    const sub = client.subscribe("@bob");
    expect(await sub.ready.catch((e: EdgepushError) => e.code)).toBe("forbidden");
    expect(sub.state).toBe("unsubscribed");
    client.close();
  });

  test("requests made while reconnecting wait for the connection; before connect() they fail", async () => {
    const { client } = clientFor(node.ws, "alice");
    const early = await client.publish("wait:room", 1).catch((e: EdgepushError) => e.code);
    expect(early).toBe("unavailable");
    const connecting = client.connect();
    const ack = client.publish("wait:room", 2); // sent once `connected` arrives
    await connecting;
    expect((await ack).offset).toBeGreaterThan(0);
    client.close();
  });
});

describe("close codes", () => {
  test("4001 stops: no reconnect, connect() rejects as unauthorized", async () => {
    const bad = await tokenFor("alice", { secret: "not-the-secret-0123456789abcdef" });
    const { client, opened } = clientFor(node.ws, "alice", { getToken: undefined, token: bad });
    const err = await client.connect().catch((e: EdgepushError) => e);
    expect((err as EdgepushError).code).toBe("unauthorized");
    expect(client.state).toBe("disconnected");
    expect(opened).toHaveLength(1);
  });

  test("4003 from the server API stops the client", async () => {
    const { client } = clientFor(node.ws, "kicked");
    await client.connect();
    const stopped = stateWhere(client, (s) => s.state === "disconnected");
    await node.api("/v1/users/kicked/disconnect", { body: {} });
    expect(await stopped).toMatchObject({ code: 4003 });
  });

  test("4004 fetches a new token with getToken and reconnects", async () => {
    const issued: string[] = [];
    const { client, states } = clientFor(node.ws, "alice", {
      getToken: async () => {
        const token = await tokenFor("alice", { ttlSeconds: issued.length === 0 ? -30 : 3600 });
        issued.push(token);
        return token;
      },
    });
    const info = await client.connect();
    expect(info.user).toBe("alice");
    expect(issued).toHaveLength(2);
    expect(states.find((s) => s.code === 4004)).toMatchObject({
      state: "reconnecting",
      delayMs: 0,
    });
    client.close();
  });

  test("a token close to expiry is refreshed with a refresh frame, without reconnecting", async () => {
    let calls = 0;
    let thirdCall: () => void = () => {};
    const refreshedTwice = new Promise<void>((resolve) => {
      thirdCall = resolve;
    });
    const { client, states } = clientFor(node.ws, "alice", {
      getToken: () => {
        if (++calls === 3) thirdCall();
        return tokenFor("alice", { ttlSeconds: 3 });
      },
    });
    await client.connect();
    await refreshedTwice; // the second refresh comes after the first token expired
    expect((await client.publish("refresh:room", 1)).offset).toBe(1);
    expect(states.map((s) => s.state)).toEqual(["connecting", "connected"]);
    client.close();
  });
});

describe("many rooms", () => {
  test("150 rooms subscribe within the server's frame rate, again after a reconnect", async () => {
    const { client, states } = clientFor(node.ws, "many-rooms");
    const rooms = Array.from({ length: 150 }, (_, i) => `many:r${i}`);
    const subs = rooms.map((room) => client.subscribe(room));
    await client.connect();
    await Promise.all(subs.map((sub) => sub.ready));
    // The server closes the connection (4008 reconnects at once); every room comes back.
    const back = new Promise((resolve) => client.once("connected", resolve));
    await node.api("/v1/users/many-rooms/disconnect", { body: { code: 4008 } });
    await back;
    await until(() => subs.every((sub) => sub.state === "subscribed"), {
      what: "every room subscribed again",
    });
    const got = collect(subs[149] as (typeof subs)[number]);
    await node.api("/v1/publish", { body: { room: "many:r149", data: "last" } });
    expect((await got.waitFor(1))[0]?.data).toBe("last");
    expect(states.some((s) => s.code === 4029)).toBe(false);
    expect(states.filter((s) => s.state === "connected")).toHaveLength(2);
    client.close();
  });
});

describe("revoked rooms", () => {
  test("a refreshed token without the room ends that subscription with forbidden, not the connection", async () => {
    let calls = 0;
    const { client, states } = clientFor(node.ws, "alice", {
      getToken: () =>
        ++calls === 1
          ? tokenFor("alice", { ttlSeconds: 3, rooms: ["priv:*"] })
          : tokenFor("alice", { ttlSeconds: 3600 }),
    });
    const priv = client.subscribe("priv:x");
    const open = client.subscribe("open:x");
    const ended = new Promise<EdgepushError>((resolve) => priv.once("error", resolve));
    await client.connect();
    await Promise.all([priv.ready, open.ready]);
    const err = await ended;
    expect(err.code).toBe("forbidden");
    expect(priv.state).toBe("unsubscribed");
    expect(client.subscriptions.has("priv:x")).toBe(false);
    const got = collect(open);
    await node.api("/v1/publish", { body: { room: "open:x", data: 1 } });
    expect((await got.waitFor(1))[0]?.data).toBe(1);
    expect(states.map((s) => s.state)).toEqual(["connecting", "connected"]);
    client.close();
  });
});

describe("recovery", () => {
  test("a client that was away gets the messages it missed, once each, in order", async () => {
    const { client } = clientFor(node.ws, "alice");
    const sub = client.subscribe("away:room");
    const got = collect(sub);
    await client.connect();
    await node.api("/v1/publish", { body: { room: "away:room", data: 1 } });
    await got.waitFor(1);
    client.close();
    for (const n of [2, 3, 4])
      await node.api("/v1/publish", { body: { room: "away:room", data: n } });
    const recovery = new Promise((resolve) => sub.once("recovery", resolve));
    await client.connect();
    expect(await recovery).toMatchObject({
      recovered: true,
      since: { offset: 1 },
      latest: { offset: 4 },
    });
    expect((await got.waitFor(4)).map((m) => m.data)).toEqual([1, 2, 3, 4]);
    client.close();
  });

  test("a room whose history was trimmed meanwhile reports recovered: false", async () => {
    const { client } = clientFor(node.ws, "alice");
    const sub = client.subscribe("tiny:trimmed");
    const got = collect(sub);
    await client.connect();
    await node.api("/v1/publish", { body: { room: "tiny:trimmed", data: 1 } });
    await got.waitFor(1);
    client.close();
    for (let n = 2; n <= 10; n++) {
      await node.api("/v1/publish", { body: { room: "tiny:trimmed", data: n } });
    }
    const recovery = new Promise((resolve) => sub.once("recovery", resolve));
    await client.connect();
    expect(await recovery).toMatchObject({ recovered: false, latest: { offset: 10 } });
    await node.api("/v1/publish", { body: { room: "tiny:trimmed", data: 11 } });
    expect((await got.waitFor(2)).map((m) => m.data)).toEqual([1, 11]);
    client.close();
  });

  test("direct messages sent while away are recovered through connect.inbox", async () => {
    const { client } = clientFor(node.ws, "inboxer");
    const inbox: unknown[] = [];
    client.on("inbox", (m) => inbox.push(m.data));
    await client.connect();
    client.close();
    for (const n of [1, 2]) await node.api("/v1/send", { body: { to: "inboxer", data: n } });
    const info = await client.connect();
    expect(info.inboxRecovered).toBe(true);
    await client.history("@inboxer"); // a round trip: the replay came before its reply
    expect(inbox).toEqual([1, 2]);
    client.close();
  });
});
