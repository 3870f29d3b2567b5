/**
 * A throwaway redis-server for a benchmark run: loopback only, no persistence, a free port.
 */

import { track } from "./children.ts";

/** A running redis-server. */
export interface RedisServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Asks the kernel for a free loopback TCP port. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Starts redis-server (from PATH) on a free loopback port; resolves once it accepts. */
export async function startRedis(): Promise<RedisServer> {
  const port = freePort();
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"];
  const proc = track(
    Bun.spawn(["redis-server", ...args, "--maxclients", "10000"], {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  const decoder = new TextDecoder();
  let seen = "";
  const reader = proc.stdout.getReader();
  while (!seen.includes("Ready to accept connections")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`redis-server exited before accepting connections:\n${seen}`);
    seen += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  // Keep draining its log so that a full pipe never blocks it.
  proc.stdout.pipeTo(new WritableStream()).catch(() => undefined);
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: proc.pid,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
