import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";

/** A `tursodb --sync-server` process on loopback, serving one database file. */
export interface TursoServer {
  url: string;
  proc: Subprocess;
  stop(): Promise<void>;
}

/** The `tursodb` binary that the `turso` dev dependency installs for this platform. */
export function tursodbPath(): string {
  const pkg = `@tursodatabase/cli-${process.platform}-${process.arch}${process.platform === "linux" ? "-gnu" : ""}`;
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${pkg}/package.json`)), "tursodb");
}

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * Starts `tursodb FILE --sync-server 127.0.0.1:PORT` and resolves once it answers HTTP.
 * The port is a free one chosen just before the start; tursodb cannot bind port 0 and say so.
 */
export async function startTursoServer(file: string): Promise<TursoServer> {
  const port = await freePort();
  const proc = Bun.spawn([tursodbPath(), file, "--sync-server", `127.0.0.1:${port}`], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`tursodb exited with ${proc.exitCode}`);
    const up = await fetch(`${url}/v2`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error("tursodb did not start listening within 10 s");
    await Bun.sleep(20);
  }
  return {
    url,
    proc,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}
