#!/usr/bin/env bun
import { parseArgs } from "node:util";
import { mintToken, parseDuration } from "./auth/mint.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { migrateDatabase } from "./history/index.ts";
import { createLogger } from "./log.ts";
import { startNode } from "./server/node.ts";

const USAGE = `edgepush: a WebSocket push server

usage:
  edgepush serve   [--config FILE]            start a node
  edgepush token   --sub USER [--ttl 1h] [--rooms 'chat:*,news'] [--config FILE]
                                              print a client JWT signed with the configured secret
  edgepush migrate [--config FILE]            apply history migrations and exit

Environment variables override the config file; see config/config.yaml.`;

async function serve(file: string | undefined): Promise<void> {
  const config = loadConfig({ file });
  const log = createLogger(config.log);
  const node = await startNode({ config, log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("signal", { signal });
    const hardStop = setTimeout(
      () => {
        log.error("drain timed out", { seconds: config.drain.timeoutSeconds + 5 });
        process.exit(1);
      },
      (config.drain.timeoutSeconds + 5) * 1000,
    );
    node.drain().then(
      () => {
        clearTimeout(hardStop);
        process.exit(0);
      },
      (err: unknown) => {
        log.error("drain failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

async function token(values: Record<string, string | boolean | undefined>): Promise<void> {
  const sub = values.sub;
  if (typeof sub !== "string" || !sub) throw new Error("token: --sub USER is required");
  const config = loadConfig({ file: values.config as string | undefined });
  const ttlSeconds = parseDuration(typeof values.ttl === "string" ? values.ttl : "1h");
  const rooms =
    typeof values.rooms === "string"
      ? values.rooms
          .split(",")
          .map((r) => r.trim())
          .filter(Boolean)
      : undefined;
  process.stdout.write(`${await mintToken(config.auth, { sub, ttlSeconds, rooms })}\n`);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      sub: { type: "string" },
      ttl: { type: "string" },
      rooms: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0] ?? "serve";
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  switch (command) {
    case "serve":
      return serve(values.config);
    case "token":
      return token(values);
    case "migrate": {
      const config = loadConfig({ file: values.config });
      await migrateDatabase(config.history, createLogger(config.log));
      process.exit(0);
      return;
    }
    default:
      throw new Error(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const text = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`edgepush: ${text}\n`);
  process.exit(2);
});
