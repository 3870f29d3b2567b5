import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

/** A redis-server started by a test suite on loopback. */
export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server (SIGTERM); its data is gone, as nothing is saved. */
  stop(): Promise<void>;
  /** kill -9. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

function binary(): string {
  const found = Bun.which("redis-server");
  if (!found) {
    throw new Error(
      "redis-server not found: install the Debian package redis-server (apt-get install -y redis-server)",
    );
  }
  return found;
}

async function launch(
  bin: string,
  port: number,
  dir: string,
): Promise<Subprocess<"ignore", "pipe">> {
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"];
  const proc = Bun.spawn([bin, ...args, "--dir", dir], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  while (!seen.includes("Ready to accept connections")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`redis-server on port ${port} exited before accepting:\n${seen}`);
    seen += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  proc.stdout.pipeTo(new WritableStream()).catch(() => undefined);
  return proc;
}

/**
 * Starts a real redis-server on a free loopback port, without persistence, in a temp folder.
 *
 * @example
 * const redis = await startRedis();
 * afterAll(() => redis.dispose());
 */
export async function startRedis(): Promise<RedisServer> {
  const bin = binary();
  const dir = mkdtempSync(join(tmpdir(), "edgepush-redis-"));
  const port = freePort();
  let proc: Subprocess<"ignore", "pipe"> | undefined = await launch(bin, port, dir);
  const end = async (signal: NodeJS.Signals) => {
    const p = proc;
    proc = undefined;
    if (p && p.exitCode === null && p.signalCode === null) p.kill(signal);
    await p?.exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
    async start() {
      if (proc) throw new Error("redis-server is already running");
      proc = await launch(bin, port, dir);
    },
    async dispose() {
      await end("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
