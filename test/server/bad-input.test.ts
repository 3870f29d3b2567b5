import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { TestClient, tokenFor } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";
import { until } from "../support/wait.ts";

let node: NodeProcess;
let bystander: TestClient;

beforeAll(async () => {
  node = await spawnNode({
    config: `
limits:
  maxFrameBytes: 4096
  framesPerSecond: 20
  rateLimitStrikes: 5
  badFrames: 4
  maxConnections: 40
  backpressureBytes: 65536
  apiRequestsPerSecond: 100000
`,
  });
  bystander = await TestClient.connect(node.ws, "bystander");
  await bystander.request({ type: "subscribe", room: "calm" });
});

afterAll(async () => {
  // Whatever the tests above did, the bystander's connection still works.
  await node.api("/v1/publish", { body: { room: "calm", data: "still here" } });
  expect((await bystander.next((f) => f.type === "message" && f.room === "calm")).data).toBe(
    "still here",
  );
  bystander.close();
  await node.kill();
});

describe("bad frames get an error and change nothing", () => {
  const cases: [string, string, string][] = [
    ["malformed JSON", "{nope", "bad_request"],
    ["a JSON array", "[1,2]", "bad_request"],
    ["a missing type", '{"id":1}', "bad_request"],
    ["an unknown type", '{"type":"dance","id":1}', "unknown_type"],
    ["a missing room", '{"type":"subscribe","id":1}', "bad_request"],
    ["a wrong-typed room", '{"type":"subscribe","id":1,"room":5}', "bad_request"],
    ["an invalid room name", '{"type":"subscribe","id":1,"room":"bad room!"}', "bad_request"],
    [
      "a too long room name",
      `{"type":"subscribe","id":1,"room":"${"r".repeat(129)}"}`,
      "bad_request",
    ],
    ["a publish without data", '{"type":"publish","id":1,"room":"r"}', "bad_request"],
    ["a bad id", '{"type":"ping","id":0}', "bad_request"],
    [
      "a history with since and before",
      '{"type":"history","id":1,"room":"r","since":1,"before":3}',
      "bad_request",
    ],
    [
      "data nested 40 deep",
      `{"type":"publish","id":1,"room":"r","data":${"[".repeat(40)}${"]".repeat(40)}}`,
      "bad_request",
    ],
    [
      "a direct message to a user id with a control character",
      '{"type":"send","id":1,"to":"a\\u0007b","data":1}',
      "bad_request",
    ],
  ];
  for (const [what, text, code] of cases) {
    test(`${what} is ${code}`, async () => {
      const c = await TestClient.connect(node.ws, "alice");
      c.send(text);
      const e = await c.next((f) => f.type === "error");
      expect(e.code).toBe(code);
      expect(typeof e.message).toBe("string");
      expect((await c.request({ type: "ping" })).type).toBe("pong");
      c.close();
    });
  }

  test("an error reply carries the frame's id", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    c.send({ type: "subscribe", id: 77, room: "no spaces" });
    expect(await c.next()).toMatchObject({ type: "error", id: 77, code: "bad_request" });
    c.close();
  });

  test("a frame refused for its nesting still answers with its id", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    const deep = `${"[".repeat(40)}${"]".repeat(40)}`;
    c.send(`{"type":"publish","id":78,"room":"r","data":${deep}}`);
    expect(await c.next()).toMatchObject({ type: "error", id: 78, code: "bad_request" });
    c.close();
  });

  test("a connect frame with a bad id is bad_request, and the connection may still connect", async () => {
    const c = await TestClient.open(node.ws);
    c.send({ type: "connect", id: 0, token: await tokenFor("alice") });
    expect(await c.next()).toMatchObject({ type: "error", code: "bad_request" });
    c.send({ type: "connect", id: 1, token: await tokenFor("alice") });
    expect(await c.next()).toMatchObject({ type: "connected", id: 1, user: "alice" });
    c.close();
  });

  test("a binary frame is bad_request", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    c.send(new Uint8Array([1, 2, 3]));
    expect(await c.next()).toMatchObject({ type: "error", code: "bad_request" });
    c.close();
  });

  test("a second connect on an open connection is bad_request", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    expect(await c.request({ type: "connect", token: "x" })).toMatchObject({ code: "bad_request" });
    c.close();
  });

  test("subscribing twice to one room is bad_request", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    await c.request({ type: "subscribe", room: "twice" });
    expect(await c.request({ type: "subscribe", room: "twice" })).toMatchObject({
      code: "bad_request",
    });
    c.close();
  });
});

describe("limits", () => {
  test("a frame over maxFrameBytes closes with 1009, counted as 1009", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    c.send({ type: "publish", room: "big", data: "x".repeat(5000) });
    expect((await c.closed).code).toBe(1009);
    await until(async () =>
      (await (await node.api("/metrics")).text()).includes('edgepush_closes_total{code="1009"}'),
    );
  });

  test("a connect frame with a malformed inbox is bad_request and the socket may try again", async () => {
    const c = await TestClient.open(node.ws);
    const token = await tokenFor("alice");
    c.send({ type: "connect", id: 1, token, inbox: { offset: -1, epoch: "e" } });
    expect(await c.next()).toMatchObject({ type: "error", id: 1, code: "bad_request" });
    c.send({ type: "connect", id: 2, token });
    expect(await c.next()).toMatchObject({ type: "connected", id: 2, user: "alice" });
    c.close();
  });

  test("repeated bad frames close with 1008", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    for (let i = 0; i < 4; i++) c.send("garbage");
    expect((await c.closed).code).toBe(1008);
    expect(c.all((f) => f.type === "error")).toHaveLength(3);
  });

  test("too many frames per second get rate_limited, then 4029 when it goes on", async () => {
    const c = await TestClient.connect(node.ws, "alice");
    for (let i = 0; i < 40; i++) c.send({ type: "ping", id: i + 1 });
    const closed = await c.closed;
    expect(closed.code).toBe(4029);
    expect(c.all((f) => f.type === "error" && f.code === "rate_limited").length).toBeGreaterThan(0);
    expect(c.all((f) => f.type === "pong").length).toBeGreaterThan(0);
  });

  test("sockets that have not authenticated yet count toward maxConnections", async () => {
    const idle: TestClient[] = [];
    let refused: number | undefined;
    for (let i = 0; i < 45 && refused === undefined; i++) {
      const c = await TestClient.open(node.ws);
      const closed = c.closed.then((x) => x.code);
      const first = await Promise.race([closed, Bun.sleep(50).then(() => undefined)]);
      if (first !== undefined) refused = first;
      else idle.push(c);
    }
    expect(refused).toBe(1013);
    expect(idle.length).toBeLessThan(40);
    for (const c of idle) c.close();
    await Promise.all(idle.map((c) => c.closed));
  });

  test("connections past maxConnections close with 1013", async () => {
    const clients: TestClient[] = [];
    let refused: number | undefined;
    for (let i = 0; i < 45 && refused === undefined; i++) {
      const c = await TestClient.open(`${node.ws}?token=${await tokenFor(`many-${i}`)}`);
      const first = await Promise.race([
        c.next(),
        c.closed.then((x) => ({ type: "closed", code: x.code })),
      ]);
      if (first.type === "closed") refused = first.code;
      else clients.push(c);
    }
    expect(refused).toBe(1013);
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.closed));
  });

  test("a consumer that stops reading is closed with 4008", async () => {
    const token = await tokenFor("slow");
    const sock = connect(node.port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(
      `GET /v1/ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    sock.pause();
    await until(async () => (await (await node.api("/v1/users/slow")).json()).online === true);
    const big = "y".repeat(3000);
    const closed = node.waitForLog((l) => l.event === "slow consumer", 30_000);
    for (let i = 0; i < 3000; i++) {
      const res = await node.api("/v1/broadcast", { body: { data: big } });
      if (res.status !== 200) throw new Error(`broadcast failed: ${res.status}`);
      if (node.logs.some((l) => l.event === "slow consumer")) break;
    }
    const line = await closed;
    expect(line.user).toBe("slow");
    const metrics = await (await node.api("/metrics")).text();
    expect(metrics).toContain('edgepush_closes_total{code="4008"}');
    sock.destroy();
  });
});
