import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

/** Secret every test node signs client tokens with. */
export const TEST_SECRET = "edgepush-test-secret-0123456789abcdef";
/** API key every test node accepts. */
export const TEST_API_KEY = "edgepush-test-api-key-0123456789";

const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;

/**
 * Temp folders spawnNode made. A restarted node reuses its folder (`again()`), so they are
 * removed only after the whole run (test/support/global.ts), once every node is gone.
 */
const madeDirs: string[] = [];

/** Removes the folders spawnNode made. */
export function removeNodeDirs(): void {
  for (const dir of madeDirs.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A node still closing wrote into its folder meanwhile; the others go all the same.
    }
  }
}

export interface NodeOptions {
  /** Extra environment variables (override the defaults below). */
  env?: Record<string, string>;
  /** YAML text of a config file given with --config. */
  config?: string;
  /** Folder for the node's files (history database); a new temp folder by default. */
  dir?: string;
  /** Listen port; 0 (a free port) by default. Pass a previous node's port to restart it. */
  port?: number;
  /** Command to run instead of `bun src/cli.ts serve` (e.g. a compiled binary). */
  command?: string[];
}

/** A node process started by a test. */
export interface NodeProcess {
  port: number;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:1234 */
  http: string;
  /** WebSocket endpoint URL, e.g. ws://127.0.0.1:1234/v1/ws */
  ws: string;
  dir: string;
  proc: Subprocess;
  /** Every log line the node printed, parsed when it is JSON. */
  logs: Record<string, unknown>[];
  /** Resolves with the first log line matching `pred` (already printed or future). */
  waitForLog(
    pred: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Calls the HTTP API with the test API key. */
  api(
    path: string,
    init?: { method?: string; body?: unknown; key?: string | null },
  ): Promise<Response>;
  /** Sends a signal (SIGTERM by default) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** kill -9 and wait for the process to end. */
  kill(): Promise<void>;
  /** Options to start the same node again (same folder, same port). */
  again(): NodeOptions;
}

function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): void {
  const decoder = new TextDecoder();
  let buf = "";
  const reader = stream.getReader();
  (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i = buf.indexOf("\n");
      while (i >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
      }
    }
  })();
}

/**
 * Starts a real edgepush node process on loopback and resolves once it listens.
 *
 * @example
 * const node = await spawnNode();
 * const res = await node.api("/v1/publish", { method: "POST", body: { room: "r", data: 1 } });
 */
export async function spawnNode(opts: NodeOptions = {}): Promise<NodeProcess> {
  let dir = opts.dir;
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), "edgepush-node-"));
    madeDirs.push(dir);
  }
  const args = opts.command ?? [BUN, join(ROOT, "src/cli.ts"), "serve"];
  if (opts.config !== undefined) {
    const file = join(dir, `config-${Date.now()}.yaml`);
    await Bun.write(file, opts.config);
    args.push("--config", file);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    PORT: String(opts.port ?? 0),
    EDGEPUSH_JWT_SECRET: TEST_SECRET,
    EDGEPUSH_API_KEY: TEST_API_KEY,
    EDGEPUSH_DB_URL: `file:${join(dir, "edgepush.db")}`,
    EDGEPUSH_LOG_FORMAT: "json",
    EDGEPUSH_LOG_LEVEL: "debug",
    ...opts.env,
  };
  const proc = Bun.spawn(args, { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    pred: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  const onLine = (text: string) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { event: "raw", text };
    }
    logs.push(line);
    if (process.env.EDGEPUSH_TEST_LOGS) process.stderr.write(`[node ${proc.pid}] ${text}\n`);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  readLines(proc.stdout, onLine);
  readLines(proc.stderr, onLine);

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000) => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        const tail = logs
          .slice(-15)
          .map((l) => JSON.stringify(l))
          .join("\n");
        reject(new Error(`node log line not seen within ${timeoutMs} ms; last lines:\n${tail}`));
      }, timeoutMs);
      waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolvePromise(l);
        },
      });
    });
  };

  const started = waitForLog((l) => l.event === "listening");
  const exited = proc.exited.then((code) => {
    throw new Error(
      `node exited with ${code} before listening:\n${logs.map((l) => JSON.stringify(l)).join("\n")}`,
    );
  });
  const listening = await Promise.race([started, exited]);
  const port = Number(listening.port);
  const http = `http://127.0.0.1:${port}`;
  return {
    port,
    http,
    ws: `ws://127.0.0.1:${port}/v1/ws`,
    dir,
    proc,
    logs,
    waitForLog,
    api(path, init = {}) {
      const headers: Record<string, string> = {};
      if (init.key !== null) headers.authorization = `Bearer ${init.key ?? TEST_API_KEY}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        headers["content-type"] = "application/json";
        body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      }
      return fetch(`${http}${path}`, {
        method: init.method ?? (body ? "POST" : "GET"),
        headers,
        body,
      });
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return await proc.exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await proc.exited;
    },
    again: () => ({ ...opts, dir, port }),
  };
}
