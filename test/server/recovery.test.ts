import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Frame, TestClient } from "../support/client.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";

let node: NodeProcess;

beforeAll(async () => {
  node = await spawnNode({
    config:
      "limits:\n  framesPerSecond: 10000\nnamespaces:\n  short:\n    historySize: 5\n  big:\n    historySize: 1000\n",
  });
});
afterAll(() => node.kill());

const publish = (room: string, data: unknown) => node.api("/v1/publish", { body: { room, data } });
const offsets = (frames: Frame[]) => frames.map((f) => f.offset);

describe("recovery after reconnect", () => {
  test("a client that reconnects gets the messages it missed, once each, then live ones", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    const sub = await a.request({ type: "subscribe", room: "rec" });
    for (let i = 1; i <= 5; i++) await publish("rec", i);
    const seen = await a.take(5, (f) => f.type === "message");
    a.close();
    await a.closed;

    for (let i = 6; i <= 12; i++) await publish("rec", i);
    const b = await TestClient.connect(node.ws, "alice");
    const last = seen[seen.length - 1] as Frame;
    const r = await b.request({
      type: "subscribe",
      room: "rec",
      since: { offset: last.offset, epoch: sub.epoch },
    });
    expect(r).toMatchObject({ type: "subscribed", offset: 12, epoch: sub.epoch, recovered: true });
    const missed = await b.take(7, (f) => f.type === "message");
    expect(offsets(missed)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    await publish("rec", 13);
    expect((await b.next((f) => f.type === "message")).offset).toBe(13);
    b.close();
  });

  test("messages published during the replay come after it with no gap and no duplicate", async () => {
    const room = "big:busy";
    for (let i = 0; i < 200; i++) await publish(room, i);
    const pos = (await (await node.api(`/v1/rooms/${room}/history?limit=1`)).json()) as Frame;
    const epoch = pos.epoch as string;

    const publisher = await TestClient.connect(node.ws, "pub");
    let sent = 0;
    const pump = (async () => {
      for (; sent < 300; sent++) {
        publisher.send({ type: "publish", id: sent + 1, room, data: sent });
        if (sent % 10 === 0) await Bun.sleep(1);
      }
    })();
    const b = await TestClient.connect(node.ws, "reader");
    const r = await b.request({ type: "subscribe", room, since: { offset: 150, epoch } });
    expect(r.recovered).toBe(true);
    await pump;
    await publisher.take(300, (f) => f.type === "ack");
    const got = await b.take(350, (f) => f.type === "message");
    expect(offsets(got)).toEqual(Array.from({ length: 350 }, (_, i) => 151 + i));
    publisher.close();
    b.close();
  });

  test("another epoch, an offset beyond the latest, or one older than history is not recovered", async () => {
    for (let i = 0; i < 10; i++) await publish("short:r", i);
    const a = await TestClient.connect(node.ws, "alice");
    const h = await a.request({ type: "history", room: "short:r", limit: 1 });
    const cases = [
      { offset: 9, epoch: "another-epoch" },
      { offset: 11, epoch: h.epoch },
      { offset: 2, epoch: h.epoch },
    ];
    for (const since of cases) {
      const r = await a.request({ type: "subscribe", room: "short:r", since });
      expect(r).toMatchObject({ type: "subscribed", offset: 10, recovered: false });
      await a.request({ type: "unsubscribe", room: "short:r" });
    }
    const ok = await a.request({
      type: "subscribe",
      room: "short:r",
      since: { offset: 6, epoch: h.epoch },
    });
    expect(ok.recovered).toBe(true);
    expect(offsets(await a.take(4, (f) => f.type === "message"))).toEqual([7, 8, 9, 10]);
    expect(a.all((f) => f.type === "message")).toHaveLength(4);
    a.close();
  });

  test("a since without a valid epoch or offset is bad_request", async () => {
    const a = await TestClient.connect(node.ws, "alice");
    for (const since of [
      { offset: 1 },
      { offset: -1, epoch: "e" },
      { offset: 1, epoch: "" },
      { offset: 1.5, epoch: "e" },
      "x",
    ]) {
      expect(await a.request({ type: "subscribe", room: "rec2", since })).toMatchObject({
        code: "bad_request",
      });
    }
    a.close();
  });
});
