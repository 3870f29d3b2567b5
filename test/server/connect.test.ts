import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { TestClient, tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode, TEST_SECRET } from "../support/node.ts";

const enc = new TextEncoder();
let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config: `
ws:
  connectTimeoutSeconds: 1
auth:
  issuer: edgepush-tests
  audience: edgepush
  clockToleranceSeconds: 0
namespaces:
  priv:
    subscribe: token
`,
  });
});
afterAll(() => node.kill());

function claims(sub = "alice") {
  return new SignJWT({}).setSubject(sub).setIssuer("edgepush-tests").setAudience("edgepush");
}

async function good(sub = "alice", ttl = 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return claims(sub)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(enc.encode(TEST_SECRET));
}

async function closeCodeFor(token: string): Promise<number> {
  const c = await TestClient.open(`${node.ws}?token=${encodeURIComponent(token)}`);
  return (await c.closed).code;
}

describe("connecting", () => {
  test("a token in the URL gets `connected` first, without an id", async () => {
    const c = await TestClient.open(`${node.ws}?token=${await good("alice")}`);
    const f = await c.next();
    expect(f.type).toBe("connected");
    expect(f.id).toBeUndefined();
    expect(f.user).toBe("alice");
    expect(f.client).toMatch(/^c_[a-z0-9]+$/);
    expect(typeof f.node).toBe("string");
    expect(f.region).toBe("local");
    expect(f.ping).toBe(25);
    expect(f.inbox).toEqual({ offset: 0, epoch: expect.any(String) });
    c.close();
  });

  test("a connect frame is answered by `connected` carrying its id", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1, token: await good("bob") });
    const f = await c.next();
    expect(f).toMatchObject({ type: "connected", id: 1, user: "bob" });
    c.close();
  });

  test("any frame other than connect first closes with 4001", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "subscribe", id: 1, room: "r" });
    expect((await c.closed).code).toBe(4001);
  });

  test("no connect frame within connectTimeout closes with 4009", async () => {
    const c = await TestClient.open(node.ws);
    expect((await c.closed).code).toBe(4009);
  });

  test("an expired but correctly signed token closes with 4004", async () => {
    expect(await closeCodeFor(await good("alice", -5))).toBe(4004);
  });

  test("a token signed with alg none closes with 4001", async () => {
    const none = new UnsecuredJWT({ iss: "edgepush-tests", aud: "edgepush" })
      .setSubject("alice")
      .setExpirationTime("1h")
      .encode();
    expect(await closeCodeFor(none)).toBe(4001);
  });

  test("a token signed with the wrong key closes with 4001", async () => {
    const t = await claims()
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(enc.encode("another-secret-of-enough-length!"));
    expect(await closeCodeFor(t)).toBe(4001);
  });

  test("a token not yet valid closes with 4001", async () => {
    const t = await claims()
      .setProtectedHeader({ alg: "HS256" })
      .setNotBefore(Math.floor(Date.now() / 1000) + 600)
      .setExpirationTime("1h")
      .sign(enc.encode(TEST_SECRET));
    expect(await closeCodeFor(t)).toBe(4001);
  });

  test("a token with the wrong issuer or audience closes with 4001", async () => {
    const wrongIss = await new SignJWT({})
      .setSubject("alice")
      .setIssuer("someone-else")
      .setAudience("edgepush")
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(enc.encode(TEST_SECRET));
    const wrongAud = await new SignJWT({})
      .setSubject("alice")
      .setIssuer("edgepush-tests")
      .setAudience("other")
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(enc.encode(TEST_SECRET));
    expect(await closeCodeFor(wrongIss)).toBe(4001);
    expect(await closeCodeFor(wrongAud)).toBe(4001);
  });

  test("an RS256 token where only HS256 is allowed closes with 4001", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const t = await claims()
      .setProtectedHeader({ alg: "RS256" })
      .setExpirationTime("1h")
      .sign(privateKey);
    expect(await closeCodeFor(t)).toBe(4001);
  });

  test("garbage in place of a token closes with 4001 and the failure is logged", async () => {
    expect(await closeCodeFor("not-a-jwt")).toBe(4001);
    await node.waitForLog((l) => l.event === "auth failed");
  });

  test("a token that expires while connected closes the socket with 4004", async () => {
    const c = await TestClient.open(`${node.ws}?token=${await good("alice", 2)}`);
    await c.next((f) => f.type === "connected");
    expect((await c.closed).code).toBe(4004);
  });

  test("refresh keeps a connection past its first token's expiry", async () => {
    const c = await TestClient.open(`${node.ws}?token=${await good("alice", 2)}`);
    await c.next((f) => f.type === "connected");
    const r = await c.request({ type: "refresh", token: await good("alice", 60) });
    expect(r.type).toBe("refreshed");
    expect(r.exp).toBeGreaterThan(Date.now() / 1000 + 50);
    await Bun.sleep(3000);
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    c.close();
  });

  test("refresh with a bad token is unauthorized and the connection stays", async () => {
    const c = await TestClient.connect(node.ws, "alice", await good("alice"));
    const r = await c.request({ type: "refresh", token: "bad.token.here" });
    expect(r).toMatchObject({ type: "error", code: "unauthorized" });
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    c.close();
  });

  test("refresh with narrower rooms leaves the rooms it no longer grants", async () => {
    const withRooms = async (rooms?: string[]) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(rooms ? { rooms } : {})
        .setSubject("alice")
        .setIssuer("edgepush-tests")
        .setAudience("edgepush")
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime(now + 3600)
        .sign(enc.encode(TEST_SECRET));
    };
    const c = await TestClient.connect(node.ws, "alice", await withRooms(["priv:*"]));
    for (const room of ["priv:a", "priv:b", "open"]) {
      expect((await c.request({ type: "subscribe", room })).type).toBe("subscribed");
    }
    const r = await c.request({ type: "refresh", token: await withRooms(["priv:b"]) });
    expect(r.type).toBe("refreshed");
    expect(await c.next((f) => f.type === "unsubscribed")).toEqual({
      type: "unsubscribed",
      room: "priv:a",
    });
    for (const room of ["priv:a", "priv:b", "open"]) {
      await node.api("/v1/publish", { body: { room, data: room } });
    }
    const got = await c.take(2, (f) => f.type === "message");
    expect(got.map((m) => m.room).sort()).toEqual(["open", "priv:b"]);
    expect(await c.request({ type: "unsubscribe", room: "priv:a" })).toMatchObject({
      code: "not_subscribed",
    });
    // A token without rooms leaves priv:b too; the open room stays.
    await c.request({ type: "refresh", token: await withRooms() });
    expect(await c.next((f) => f.type === "unsubscribed")).toEqual({
      type: "unsubscribed",
      room: "priv:b",
    });
    expect(await c.request({ type: "unsubscribe", room: "open" })).toMatchObject({
      type: "unsubscribed",
      room: "open",
    });
    c.close();
  });

  test("refresh with another user's token is forbidden", async () => {
    const c = await TestClient.connect(node.ws, "alice", await good("alice"));
    const r = await c.request({ type: "refresh", token: await good("mallory") });
    expect(r).toMatchObject({ type: "error", code: "forbidden" });
    c.close();
  });
});

describe("anonymous connections", () => {
  test("are refused unless the config enables them", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 1 });
    expect((await c.closed).code).toBe(4001);
  });

  test("get the user id anon:<client id> where enabled", async () => {
    const anon = await spawnNode({ config: "auth:\n  anonymous: true\n" });
    try {
      const c = await TestClient.open(anon.ws);
      c.send({ type: "connect", id: 1 });
      const f = await c.next();
      expect(f.user).toBe(`anon:${f.client}`);
      c.close();
    } finally {
      await anon.kill();
    }
  });
});

test("tokenFor signs tokens the default test node accepts", async () => {
  const plain = await spawnNode();
  try {
    const c = await TestClient.connect(plain.ws, "zoe", await tokenFor("zoe"));
    expect(c.frames[0]?.user).toBe("zoe");
    c.close();
  } finally {
    await plain.kill();
  }
});
