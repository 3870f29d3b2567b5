import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Frame, TestClient, tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode, TEST_API_KEY } from "../support/node.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({ config: "limits:\n  maxFrameBytes: 2048\n" });
});
afterAll(() => node.kill());

async function json(res: Response): Promise<Frame> {
  return (await res.json()) as Frame;
}

describe("HTTP API", () => {
  test("publish, send and broadcast answer with room, offset and epoch", async () => {
    const p = await json(
      await node.api("/v1/publish", { body: { room: "api:r", data: { n: 1 } } }),
    );
    expect(p).toEqual({ room: "api:r", offset: 1, epoch: expect.any(String) });
    const s = await json(await node.api("/v1/send", { body: { to: "bob", data: "hi" } }));
    expect(s).toMatchObject({ room: "@bob", offset: 1 });
    const b = await json(await node.api("/v1/broadcast", { body: { data: "all" } }));
    expect(b).toMatchObject({ room: "$broadcast", offset: expect.any(Number) });
  });

  test("every call but health, readiness and metrics needs the API key", async () => {
    const res = await node.api("/v1/users", { key: null });
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({
      error: { code: "unauthorized", message: expect.any(String) },
    });
    expect((await node.api("/v1/users", { key: "wrong-key-wrong-key-wrong" })).status).toBe(401);
    expect((await node.api("/v1/openapi.json", { key: null })).status).toBe(401);
    for (const open of ["/v1/health", "/v1/ready", "/metrics"]) {
      expect((await node.api(open, { key: null })).status).toBe(200);
    }
  });

  test("bad bodies are 400 with a message naming the problem", async () => {
    const cases: unknown[] = [
      "{nope",
      { room: "r" },
      { room: 5, data: 1 },
      { room: "bad room", data: 1 },
      { room: "@bob", data: 1 },
    ];
    for (const body of cases) {
      const res = await node.api("/v1/publish", { body });
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe("bad_request");
    }
  });

  test("a body that is not JSON-typed or nests too deep is 400, and bad disconnect codes too", async () => {
    const form = await fetch(`${node.http}/v1/broadcast`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}` },
      body: '{"data":1}',
    });
    expect(form.status).toBe(400);
    expect((await json(form)).error.code).toBe("bad_request");
    const deep = `{"room":"r","data":${"[".repeat(40)}${"]".repeat(40)}}`;
    expect((await node.api("/v1/publish", { body: deep })).status).toBe(400);
    expect((await node.api("/v1/send", { body: { to: "a\nb", data: 1 } })).status).toBe(400);
    for (const code of [1015, 1006, 2000]) {
      expect((await node.api("/v1/users/x/disconnect", { body: { code } })).status).toBe(400);
    }
  });

  test("a body over maxFrameBytes is 413", async () => {
    const res = await node.api("/v1/publish", { body: { room: "r", data: "x".repeat(3000) } });
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe("too_large");
  });

  test("a declared length past any limit is 413 with the protocol's error body", async () => {
    const { port } = new URL(node.http);
    let answer = "";
    const done = Promise.withResolvers<void>();
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: Number(port),
      socket: {
        data(_s, chunk) {
          answer += new TextDecoder().decode(chunk);
          if (answer.includes("}}")) done.resolve();
        },
        close: () => done.resolve(),
      },
    });
    socket.write(
      `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_API_KEY}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n",
    );
    await done.promise;
    socket.end();
    expect(answer).toStartWith("HTTP/1.1 413");
    expect(answer).toContain('{"error":{"code":"too_large"');
  });

  test("a body sent without content-length is read up to the limit: small is taken, large is 413", async () => {
    const streamed = (text: string, chunks: number) =>
      fetch(`${node.http}/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: new ReadableStream({
          start(controller) {
            const bytes = new TextEncoder().encode(text);
            for (let i = 0; i < chunks; i++) controller.enqueue(bytes);
            controller.close();
          },
        }),
      });
    const small = await streamed('{"room":"chunked","data":1}', 1);
    expect(small.status).toBe(200);
    expect(await json(small)).toMatchObject({ room: "chunked", offset: 1 });
    // 4 MiB of body in 64 KiB chunks against a 2 KiB limit.
    const large = await streamed("x".repeat(65_536), 64);
    expect(large.status).toBe(413);
    expect(await json(large)).toEqual({
      error: { code: "too_large", message: "body over 2048 bytes" },
    });
    const after = await node.api("/v1/publish", { body: { room: "chunked", data: 2 } });
    expect(await json(after)).toMatchObject({ offset: 2 });
  });

  test("query numbers are plain digits: blank, hex, exponents and signs are 400", async () => {
    for (let i = 1; i <= 3; i++) {
      await node.api("/v1/publish", { body: { room: "q:r", data: i } });
    }
    for (const bad of ["since=", "since=0x1", "since=1e0", "since=-1", "limit=abc", "before=1.5"]) {
      const res = await node.api(`/v1/rooms/q:r/history?${bad}`);
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatchObject({
        code: "bad_request",
        message: expect.stringContaining(bad.split("=")[0] as string),
      });
    }
    expect((await node.api("/v1/users?limit=1e2")).status).toBe(400);
    const ok = await json(await node.api("/v1/rooms/q:r/history?since=1&limit=1"));
    expect(ok.messages.map((m: Frame) => m.offset)).toEqual([2]);
  });

  test("user paths take any valid user id, up to 256 characters of any plane", async () => {
    const long = "🦊".repeat(256);
    const res = await node.api(`/v1/users/${encodeURIComponent(long)}`);
    expect(await json(res)).toEqual({ user: long, online: false, connections: 0 });
    const bad = await node.api(`/v1/users/${encodeURIComponent("a\u0007b")}`);
    expect(bad.status).toBe(400);
  });

  test("disconnect takes an empty JSON body as no body", async () => {
    const res = await fetch(`${node.http}/v1/users/nobody-here/disconnect`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ disconnected: 0 });
  });

  test("an unknown route is 404 with an error body", async () => {
    const res = await node.api("/v1/nothing");
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("not_found");
  });

  test("users, rooms, presence and nodes describe the connected clients", async () => {
    const a = await TestClient.connect(node.ws, "h-alice");
    const a2 = await TestClient.connect(node.ws, "h-alice");
    const b = await TestClient.connect(node.ws, "h-bob");
    await a.request({ type: "subscribe", room: "h:room" });
    await b.request({ type: "subscribe", room: "h:room" });

    expect(await json(await node.api("/v1/users/h-alice"))).toEqual({
      user: "h-alice",
      online: true,
      connections: 2,
    });
    expect(await json(await node.api("/v1/users/nobody"))).toEqual({
      user: "nobody",
      online: false,
      connections: 0,
    });
    const users = await json(await node.api("/v1/users?limit=1000"));
    expect(users.users).toContainEqual({ user: "h-bob", connections: 1 });
    const rooms = await json(await node.api("/v1/rooms"));
    expect(rooms.rooms).toContainEqual({ room: "h:room", subscribers: 2 });
    const presence = await json(
      await node.api(`/v1/rooms/${encodeURIComponent("h:room")}/presence`),
    );
    expect(presence).toEqual({ room: "h:room", users: ["h-alice", "h-bob"] });
    const nodes = await json(await node.api("/v1/nodes"));
    expect(nodes.nodes).toHaveLength(1);
    expect(nodes.nodes[0]).toMatchObject({
      region: "local",
      connections: expect.any(Number),
      startedAt: expect.any(String),
    });
    for (const c of [a, a2, b]) c.close();
  });

  test("listings page with limit and cursor", async () => {
    const clients = await Promise.all(
      ["pg-a", "pg-b", "pg-c"].map((u) => TestClient.connect(node.ws, u)),
    );
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await json(
        await node.api(`/v1/users?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
      );
      seen.push(...page.users.map((u: Frame) => u.user));
      cursor = page.cursor;
    } while (cursor);
    expect(seen.filter((u) => u.startsWith("pg-"))).toEqual(["pg-a", "pg-b", "pg-c"]);
    for (const c of clients) c.close();
  });

  test("disconnect closes every connection of the user with 4003", async () => {
    const a = await TestClient.connect(node.ws, "d-alice");
    const a2 = await TestClient.connect(node.ws, "d-alice");
    const res = await json(
      await node.api("/v1/users/d-alice/disconnect", { method: "POST", body: {} }),
    );
    expect(res).toEqual({ disconnected: 2 });
    expect((await a.closed).code).toBe(4003);
    expect((await a2.closed).code).toBe(4003);
  });

  test("disconnect also closes a connection of the user whose token is still being checked", async () => {
    for (let i = 0; i < 20; i++) {
      const user = `d-racing-${i}`;
      const token = await tokenFor(user);
      // The node starts checking a ?token= before the client hears `open`, so this disconnect
      // always comes while the connection authenticates or after it is listed.
      const c = await TestClient.open(`${node.ws}?token=${token}`);
      await node.api(`/v1/users/${user}/disconnect`, { method: "POST", body: {} });
      expect((await c.closed).code).toBe(4003);
      expect(c.frames.some((f) => f.type === "message")).toBe(false);
    }
    const after = await json(await node.api("/v1/users/d-racing-0"));
    expect(after).toEqual({ user: "d-racing-0", online: false, connections: 0 });
  });

  test("the inbox of a user with a 256-character id is readable over HTTP", async () => {
    for (const user of ["a".repeat(256), "\u{1F600}".repeat(256)]) {
      expect((await node.api("/v1/send", { body: { to: user, data: "hi" } })).status).toBe(200);
      const res = await node.api(`/v1/rooms/${encodeURIComponent(`@${user}`)}/history`);
      expect(res.status).toBe(200);
      expect(((await json(res)).messages as Frame[]).map((m) => m.data)).toEqual(["hi"]);
    }
    const tooLong = encodeURIComponent(`@${"a".repeat(257)}`);
    expect((await node.api(`/v1/rooms/${tooLong}/history`)).status).toBe(400);
    expect((await node.api("/v1/rooms/bad%20room/history")).status).toBe(400);
  });

  test("history pages like the history frame", async () => {
    for (let i = 1; i <= 4; i++)
      await node.api("/v1/publish", { body: { room: "h:hist", data: i } });
    const h = await json(
      await node.api(`/v1/rooms/${encodeURIComponent("h:hist")}/history?since=1&limit=2`),
    );
    expect(h.messages.map((m: Frame) => m.data)).toEqual([2, 3]);
    const bad = await node.api("/v1/rooms/h:hist/history?since=x");
    expect(bad.status).toBe(400);
  });

  test("health, readiness, metrics and the OpenAPI document", async () => {
    expect(await json(await node.api("/v1/health"))).toMatchObject({
      status: "ok",
      region: "local",
    });
    expect((await node.api("/v1/ready")).status).toBe(200);
    const metrics = await (await node.api("/metrics")).text();
    for (const name of [
      "edgepush_connections",
      "edgepush_rooms",
      "edgepush_frames_in_total",
      "edgepush_frames_out_total",
      "edgepush_publishes_total",
      "edgepush_errors_total",
      "edgepush_closes_total",
    ]) {
      expect(metrics).toContain(`# TYPE ${name} `);
    }
    const doc = await json(await node.api("/v1/openapi.json"));
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/v1/publish");
    expect(Object.keys(doc.paths)).toContain("/v1/rooms/{room}/history");
    const answers = doc.paths["/v1/publish"].post.responses;
    expect(Object.keys(answers)).toEqual(
      expect.arrayContaining(["200", "400", "401", "403", "404", "413", "429", "503"]),
    );
    expect(answers["429"].headers["Retry-After"]).toBeDefined();
  });
});

describe("HTTP API rate limit", () => {
  let limited: NodeProcess;
  beforeAll(async () => {
    limited = await spawnNode({ config: "limits:\n  apiRequestsPerSecond: 2\n" });
  });
  afterAll(() => limited.kill());

  test("calls over the rate per API key are 429 rate_limited with Retry-After; probes are not limited", async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        limited.api("/v1/publish", { body: { room: "limited", data: i } }),
      ),
    );
    const refused = answers.filter((r) => r.status === 429);
    const accepted = answers.filter((r) => r.status === 200);
    expect(refused.length + accepted.length).toBe(40);
    // A burst of 2, then 2 a second: however slow the machine, most of the 40 are refused.
    expect(refused.length).toBeGreaterThan(20);
    expect(Number(refused[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await json(refused[0] as Response)).toEqual({
      error: { code: "rate_limited", message: expect.stringContaining("2 requests per second") },
    });
    // Accepted publishes got consecutive offsets: nothing refused was published.
    const offsets = (await Promise.all(accepted.map(json)))
      .map((a) => a.offset)
      .sort((x, y) => x - y);
    expect(offsets).toEqual(offsets.map((_, i) => i + 1));
    for (const open of ["/v1/health", "/v1/ready", "/metrics"]) {
      expect((await limited.api(open, { key: null })).status).toBe(200);
    }
    // A wrong key is refused as unauthorized, not counted against the real key's bucket.
    expect((await limited.api("/v1/users", { key: "wrong-key-wrong-key-wrong" })).status).toBe(401);
    const metrics = await (await limited.api("/metrics", { key: null })).text();
    expect(metrics).toMatch(/edgepush_errors_total\{code="rate_limited"\} [1-9]/);
  });

  test("one key has one budget however its Authorization header is spelled", async () => {
    await Bun.sleep(1500); // the bucket of the test before refills
    const spellings = Array.from({ length: 30 }, (_, i) =>
      i % 2
        ? `bearer${" ".repeat(i + 1)}${TEST_API_KEY}`
        : `BEARER\t${TEST_API_KEY}${" ".repeat(i)}`,
    );
    const answers = await Promise.all(
      spellings.map((authorization) =>
        fetch(`${limited.http}/v1/nodes`, { headers: { authorization } }),
      ),
    );
    expect(answers.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(answers.filter((r) => r.status === 429).length).toBeGreaterThan(15);
  });
});
