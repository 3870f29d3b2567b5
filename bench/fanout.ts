/**
 * Fan-out throughput: one room, many subscribers, one publisher sending bursts of messages as
 * fast as they come back to it (a burst of FANOUT_BURST in one write once the last burst is all
 * delivered to the publisher, so every server delivers batches of the same size); counts
 * messages delivered per second across all subscribers.
 * edgepush runs against a bare Bun.serve publish server and Socket.IO on Node and on Bun,
 * in the same run, driven by the same client processes. `bare-sized` is the bare server again
 * with payloads as long as edgepush's whole message frame, so that both move the same bytes
 * to every subscriber: edgepush's frame carries the protocol's fields (room, offset, epoch,
 * from, ts) around the same payload.
 *
 * usage: bun bench/fanout.ts
 *   FANOUT_SERVERS=edgepush,bare,bare-sized,socketio-node,socketio-bun  FANOUT_SUBSCRIBERS=1000
 *   FANOUT_PAYLOAD=64  FANOUT_SECONDS=10  FANOUT_BURST=20  FANOUT_CLIENTS=2  FANOUT_ROUNDS=1
 *   FANOUT_RESULT=fanout (the name of the JSON file in bench/results)
 */

import { messageFrame } from "../src/protocol/serialize.ts";
import { watchdog } from "./lib/children.ts";
import { Fleet, Worker } from "./lib/fleet.ts";
import { payload } from "./lib/framing.ts";
import { envList, envNumber, report } from "./lib/report.ts";
import { BENCH_SECRET, type RunningServer, type ServerName, startServer } from "./lib/servers.ts";

const settings = {
  servers: envList("FANOUT_SERVERS", [
    "edgepush",
    "bare",
    "bare-sized",
    "socketio-node",
    "socketio-bun",
  ]),
  subscribers: envNumber("FANOUT_SUBSCRIBERS", 1000),
  payloadBytes: envNumber("FANOUT_PAYLOAD", 64),
  seconds: envNumber("FANOUT_SECONDS", 10),
  burst: envNumber("FANOUT_BURST", 20),
  clientProcesses: envNumber("FANOUT_CLIENTS", 2),
  rounds: envNumber("FANOUT_ROUNDS", 1),
  warmupMessages: envNumber("FANOUT_WARMUP", 500),
};
const ROOM = "bench";

interface Stats {
  received: number;
  reads: number;
  open: number;
  closedEarly: number;
  errors: number;
  firstError: string;
}

async function delivered(fleet: Fleet): Promise<Stats> {
  const all = await fleet.all<Stats>({ cmd: "stats" });
  return all.reduce(
    (t, s) => ({
      received: t.received + s.received,
      reads: t.reads + s.reads,
      open: t.open + s.open,
      closedEarly: t.closedEarly + s.closedEarly,
      errors: t.errors + s.errors,
      firstError: t.firstError || s.firstError,
    }),
    { received: 0, reads: 0, open: 0, closedEarly: 0, errors: 0, firstError: "" },
  );
}

/** Waits until the subscribers hold `expected` messages, or `ms` passed. */
async function settle(fleet: Fleet, expected: number, ms: number): Promise<Stats> {
  const deadline = performance.now() + ms;
  let stats = await delivered(fleet);
  while (stats.received < expected && performance.now() < deadline) {
    await Bun.sleep(50);
    stats = await delivered(fleet);
  }
  return stats;
}

/** The length of the message frame edgepush sends for one bench payload. */
const EDGEPUSH_FRAME_BYTES = messageFrame({
  room: ROOM,
  offset: 10_000,
  epoch: "AbCd0123",
  from: "publisher-0",
  data: payload(settings.payloadBytes, Date.now()),
  ts: Date.now(),
}).length;

async function measure(
  server: RunningServer,
  label: string,
  payloadBytes: number,
): Promise<Record<string, string | number>> {
  const base = {
    framing: server.framing,
    urls: [server.base],
    room: ROOM,
    openConcurrency: 50,
    secret: BENCH_SECRET,
    latencySamples: 0,
  };
  const fleet = await Fleet.start(settings.clientProcesses, settings.subscribers, (i, n) => ({
    ...base,
    connections: n,
    userPrefix: `sub${i}-`,
  }));
  const publisher = await Worker.start({ ...base, connections: 1, userPrefix: "publisher-" });
  try {
    await fleet.open();
    await publisher.send({ cmd: "open" });
    const publish = (count: number, timeoutMs: number) =>
      publisher.send<{ sent: number; ownDelivered: number; sendMs: number }>({
        cmd: "publish",
        count,
        rate: 0,
        window: settings.burst,
        burst: true,
        size: payloadBytes,
        timeoutMs,
      });

    const warm = await publish(settings.warmupMessages, 30_000);
    await settle(fleet, warm.sent * settings.subscribers, 10_000);
    await fleet.all({ cmd: "reset" });

    const cpu0 = server.cpu();
    const t0 = performance.now();
    const run = await publish(Number.MAX_SAFE_INTEGER, settings.seconds * 1000);
    const expected = run.sent * settings.subscribers;
    const stats = await settle(fleet, expected, 10_000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = server.cpu() - cpu0;
    return {
      server: label,
      payloadBytes,
      published: run.sent,
      delivered: stats.received,
      missing: expected - stats.received,
      seconds: Number(seconds.toFixed(2)),
      deliveredPerSec: Math.round(stats.received / seconds),
      serverCpuSec: Number(cpu.toFixed(2)),
      cpuUsPer1kDeliveries: Number(((cpu * 1e6) / (stats.received / 1000)).toFixed(1)),
      cpuUsPerPublish: Number(((cpu * 1e6) / run.sent).toFixed(2)),
      messagesPerRead: Number((stats.received / stats.reads).toFixed(1)),
      closedEarly: stats.closedEarly,
      errors: stats.errors,
    };
  } finally {
    await publisher.stop();
    await fleet.stop();
  }
}

const done = watchdog(envNumber("FANOUT_TIMEOUT_SECONDS", 900), "fanout");
const rows: Record<string, string | number>[] = [];
for (let round = 1; round <= settings.rounds; round++) {
  for (const name of settings.servers) {
    const sized = name === "bare-sized";
    const server = await startServer((sized ? "bare" : name) as ServerName);
    try {
      const bytes = sized ? EDGEPUSH_FRAME_BYTES : settings.payloadBytes;
      rows.push({ round, ...(await measure(server, name, bytes)) });
    } finally {
      await server.stop();
    }
    process.stderr.write(`fanout: ${JSON.stringify(rows.at(-1))}\n`);
  }
}

/** The best round of each server: the least disturbed by other work on a shared machine. */
function best(name: string): number {
  const of = rows.filter((r) => r.server === name).map((r) => Number(r.deliveredPerSec));
  return of.length ? Math.max(...of) : Number.NaN;
}

const ep = best("edgepush");
done();
report(process.env.FANOUT_RESULT ?? "fanout", settings, rows, {
  "edgepush / bare": ep / best("bare"),
  "edgepush / bare with edgepush-sized frames": ep / best("bare-sized"),
  "edgepush / socketio-node": ep / best("socketio-node"),
  "edgepush / socketio-bun": ep / best("socketio-bun"),
});
