/**
 * A benchmark client process: holds many raw WebSocket connections to one server, answers its
 * pings, counts delivered messages, samples delivery latency, and can act as the publisher.
 * Driven by the harness (bench/lib/fleet.ts) with one JSON command a line on stdin; answers
 * with one JSON line on stdout per command.
 *
 * usage: bun bench/lib/client.ts '<WorkerConfig as JSON>'
 */
import { type Framing, type FramingName, framings, now, payload, stampOf } from "./framing.ts";
import { signToken } from "./token.ts";
import { WireSocket, wireStats } from "./wire.ts";

/** What one client process is asked to hold. */
export interface WorkerConfig {
  framing: FramingName;
  /** Server base URLs (`ws://host:port`); connection i goes to urls[i % urls.length]. */
  urls: string[];
  connections: number;
  /** Room to join; empty for idle connections. */
  room: string;
  /** Connections opening at once. */
  openConcurrency: number;
  /** HS256 secret for edgepush tokens; users are `<userPrefix><i>`. */
  secret: string;
  userPrefix: string;
  /** Samples kept for latency percentiles; 0 reads no send times at all. */
  latencySamples: number;
}

/** Commands the harness sends, one JSON object a line. */
export type Command =
  | { cmd: "open" }
  | { cmd: "reset" }
  | { cmd: "stats" }
  | {
      cmd: "publish";
      count: number;
      rate: number;
      window: number;
      burst?: boolean;
      size: number;
      timeoutMs: number;
    }
  | { cmd: "close" };

interface Conn {
  ws: WireSocket;
}

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
const framing: Framing = framings[config.framing];
const conns: Conn[] = [];
let received = 0;
let since = now();
let readsSince = 0;
let closedEarly = 0;
let errors = 0;
let firstError = "";
const latencyMode = config.latencySamples > 0;
const samples: number[] = [];
let seenLatencies = 0;
/** Wakes a publisher waiting for its window to open (see `delivery`). */
let wake: (() => void) | undefined;

/**
 * Resolves at the next delivered message or after `ms`, whichever comes first. The publisher
 * waits on this instead of polling, so that it takes no CPU from the server it measures while
 * its window is full.
 */
function delivery(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    }
    wake = done;
  });
}

function reply(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function sample(text: string): void {
  const sent = stampOf(text);
  if (Number.isNaN(sent)) return;
  const ms = now() - sent;
  seenLatencies += 1;
  if (samples.length < config.latencySamples) samples.push(ms);
  else {
    const j = Math.floor(Math.random() * seenLatencies);
    if (j < config.latencySamples) samples[j] = ms;
  }
}

const messagePrefix = new TextEncoder().encode(framing.messagePrefix);
const utf8 = new TextDecoder();

function openOne(i: number): Promise<void> {
  const base = config.urls[i % config.urls.length] ?? "";
  const token =
    config.framing === "edgepush" ? signToken(config.secret, `${config.userPrefix}${i}`) : "";
  return new Promise((resolve, reject) => {
    let conn: Conn | undefined;
    let ready = false;
    const markReady = () => {
      if (ready || !conn) return;
      ready = true;
      conns.push(conn);
      resolve();
    };
    const onText = (text: string) => {
      const out = framing.onFrame(text, config.room);
      if (out.kind === "message") delivered(latencyMode ? text : undefined);
      else if (out.kind === "reply") conn?.ws.send(out.text);
      else if (out.kind === "ready") markReady();
      else if (out.kind === "error") {
        errors += 1;
        firstError ||= text;
      }
    };
    WireSocket.connect(framing.url(base, token), messagePrefix, {
      open() {
        const first = framing.onOpen(config.room);
        if (first.text) conn?.ws.send(first.text);
        if (first.ready) markReady();
      },
      message(bytes, start, end) {
        delivered(latencyMode ? utf8.decode(bytes.subarray(start, end)) : undefined);
      },
      text: onText,
      close(code, reason) {
        if (!ready) reject(new Error(`closed before ready: ${code} ${reason}`));
        else closedEarly += 1;
      },
    }).then(
      // The server's answer to the upgrade arrives after this runs, so `open` finds `conn`.
      (ws) => {
        conn = { ws };
      },
      (err: Error) => reject(new Error(`connect failed: ${err.message}`)),
    );
  });
}

/** Counts one delivered message; its text is read only to sample latency. */
function delivered(text: string | undefined): void {
  received += 1;
  if (text !== undefined) sample(text);
  wake?.();
}

async function openAll(): Promise<{ opened: number; failed: number; firstFailure: string }> {
  let next = 0;
  let failed = 0;
  let firstFailure = "";
  const lane = async () => {
    while (next < config.connections) {
      const i = next++;
      await openOne(i).catch((err: Error) => {
        failed += 1;
        firstFailure ||= err.message;
      });
    }
  };
  await Promise.all(Array.from({ length: config.openConcurrency }, lane));
  return { opened: conns.length, failed, firstFailure };
}

/**
 * Publishes up to `count` messages from the first connection for at most `timeoutMs`, at most
 * `rate` a second when rate > 0; then waits up to `timeoutMs` again for its own messages to
 * come back. With `burst`, it sends `window` messages in one write each time all it sent has
 * come back, so that the server reads every burst at once and delivers it as one batch: the
 * batch size, which sets how many frames go out in one send to each subscriber, is then the
 * same for every server and every round. Without, it keeps at most `window` of its own
 * messages undelivered back to it, sending as the window opens.
 */
async function publish(c: Extract<Command, { cmd: "publish" }>): Promise<object> {
  const conn = conns[0];
  if (!conn) throw new Error("publish: no open connection");
  const start = now();
  const deadline = start + c.timeoutMs;
  const base = received;
  let sent = 0;
  const frame = () => framing.publish(config.room, payload(c.size, now()), ++sent);
  while (sent < c.count && now() < deadline) {
    const back = received - base;
    if (c.burst) {
      if (back === sent) {
        const n = Math.min(c.window, c.count - sent);
        conn.ws.send(...Array.from({ length: n }, frame));
      }
    } else {
      const elapsed = (now() - start) / 1000;
      const due = c.rate > 0 ? Math.min(c.count, Math.floor(elapsed * c.rate) + 1) : c.count;
      const allowed = Math.min(due, back + c.window);
      while (sent < allowed) conn.ws.send(frame());
    }
    // At a fixed rate, the next message is due within a millisecond; otherwise the publisher
    // waits for one of its own messages to come back (it takes no CPU while it waits).
    if (c.rate > 0) await Bun.sleep(1);
    else await delivery(100);
  }
  const sentFor = now() - start;
  const drainDeadline = now() + c.timeoutMs;
  while (received - base < sent && now() < drainDeadline) await delivery(100);
  return { sent, ownDelivered: received - base, sendMs: sentFor, ms: now() - start };
}

function stats(): object {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    received,
    reads: wireStats.reads - readsSince,
    ms: now() - since,
    open: conns.filter((c) => c.ws.open).length,
    closedEarly,
    errors,
    firstError,
    latencies: sorted,
  };
}

async function handle(command: Command): Promise<object> {
  switch (command.cmd) {
    case "open":
      return openAll();
    case "reset":
      received = 0;
      readsSince = wireStats.reads;
      since = now();
      samples.length = 0;
      seenLatencies = 0;
      return { ok: true };
    case "stats":
      return stats();
    case "publish":
      return publish(command);
    case "close":
      for (const c of conns) c.ws.close(1000);
      setTimeout(() => process.exit(0), 200);
      return { ok: true };
  }
}

let pending = "";
process.stdin.on("data", (chunk: Buffer) => {
  pending += chunk.toString();
  let i = pending.indexOf("\n");
  while (i >= 0) {
    const line = pending.slice(0, i);
    pending = pending.slice(i + 1);
    i = pending.indexOf("\n");
    handle(JSON.parse(line) as Command).then(reply, (err: Error) => reply({ error: err.message }));
  }
});
reply({ started: true, pid: process.pid });
