/**
 * Starts the servers a load run compares, each as its own process on loopback, and reads
 * their memory and CPU from /proc.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { track } from "./children.ts";
import type { FramingName } from "./framing.ts";
import { cpuSeconds, rssBytes } from "./proc.ts";

/** The servers by name; `socketio-node` and `socketio-bun` share the Socket.IO framing. */
export type ServerName = "edgepush" | "bare" | "socketio-node" | "socketio-bun";

/** A running server process. */
export interface RunningServer {
  name: ServerName;
  framing: FramingName;
  /** `ws://host:port` */
  base: string;
  /** `http://host:port` */
  http: string;
  port: number;
  pid: number;
  rss(): number;
  cpu(): number;
  /** Lines the process printed, for errors. */
  output: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Address to listen on (and to reach it at); 127.0.0.1 by default. */
  host?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** YAML config for edgepush (given with --config) after the listen address; BENCH_LIMITS by default. */
  config?: string;
}

/** The HS256 secret and API key of benchmark edgepush nodes. */
export const BENCH_SECRET = "edgepush-bench-secret-0123456789abcdef";
export const BENCH_API_KEY = "edgepush-bench-api-key-0123456789";

/**
 * Limits a benchmark node runs with: one publisher sends far above the per-connection frame
 * rate a production node allows, and load runs hold more connections than one node's default.
 */
export const BENCH_LIMITS = `limits:
  framesPerSecond: 1000000
  rateLimitStrikes: 1000000
  maxConnections: 1000000
  apiRequestsPerSecond: 1000000
`;

const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;

function commandOf(name: ServerName, dir: string): string[] {
  switch (name) {
    case "edgepush":
      return [BUN, join(ROOT, "src/cli.ts"), "serve", "--config", join(dir, "bench.yaml")];
    case "bare":
      return [BUN, join(ROOT, "bench/servers/bare.ts")];
    case "socketio-bun":
      return [BUN, join(ROOT, "bench/servers/socketio-bun.ts")];
    case "socketio-node":
      return ["node", join(ROOT, "bench/servers/socketio-node.mjs")];
  }
}

/** The port a server announced: `{"port":N}` from a baseline, `listening` from edgepush. */
function portOf(line: string): number | undefined {
  if (!line.startsWith("{")) return undefined;
  const value = JSON.parse(line) as { port?: number; event?: string };
  if (value.event !== undefined && value.event !== "listening") return undefined;
  return typeof value.port === "number" ? value.port : undefined;
}

async function readPort(
  proc: Subprocess<"ignore", "pipe", "pipe">,
  output: string[],
): Promise<number> {
  const decoder = new TextDecoder();
  let buffered = "";
  let port: number | undefined;
  const reader = proc.stdout.getReader();
  const pump = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let i = buffered.indexOf("\n");
      while (i >= 0) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        i = buffered.indexOf("\n");
        if (output.length < 1000) output.push(line);
        port ??= portOf(line);
      }
    }
  })();
  while (port === undefined) {
    if (proc.exitCode !== null) {
      await pump;
      const err = await new Response(proc.stderr).text();
      throw new Error(`server exited with ${proc.exitCode}:\n${output.join("\n")}\n${err}`);
    }
    await Bun.sleep(20);
  }
  return port;
}

/** Starts one server on a free port and resolves once it listens. */
export async function startServer(
  name: ServerName,
  opts: StartOptions = {},
): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  await Bun.write(
    join(dir, "bench.yaml"),
    `server:\n  host: ${host}\n${opts.config ?? BENCH_LIMITS}`,
  );
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    PORT: "0",
    HOST: host,
    EDGEPUSH_JWT_SECRET: BENCH_SECRET,
    EDGEPUSH_API_KEY: BENCH_API_KEY,
    EDGEPUSH_DB_URL: `file:${join(dir, "edgepush.db")}`,
    EDGEPUSH_LOG_FORMAT: "json",
    EDGEPUSH_LOG_LEVEL: "info",
    NODE_ENV: "production",
    ...opts.env,
  };
  const proc = track(
    Bun.spawn(commandOf(name, dir), { cwd: dir, env, stdout: "pipe", stderr: "pipe" }),
  );
  const output: string[] = [];
  const port = await readPort(proc, output);
  proc.stderr.pipeTo(
    new WritableStream({
      write(chunk) {
        if (output.length < 1000) output.push(new TextDecoder().decode(chunk));
      },
    }),
  );
  const pid = proc.pid;
  const alive = () => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      const how = proc.signalCode ?? `code ${proc.exitCode}`;
      throw new Error(`${name} exited (${how}); last output:\n${output.slice(-20).join("\n")}`);
    }
  };
  return {
    name,
    framing: name === "edgepush" ? "edgepush" : name === "bare" ? "bare" : "socketio",
    base: `ws://${host}:${port}`,
    http: `http://${host}:${port}`,
    port,
    pid,
    rss: () => {
      alive();
      return rssBytes(pid);
    },
    cpu: () => {
      alive();
      return cpuSeconds(pid);
    },
    output,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      await proc.exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
