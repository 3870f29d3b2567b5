import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../config/schema.ts";
import { LibsqlHistoryStore } from "../../src/history/store.ts";
import type { Retention } from "../../src/history/types.ts";
import type { Logger } from "../../src/log.ts";
import type { Message } from "../../src/protocol/frames.ts";

/** A log line a store wrote, kept for assertions. */
export interface Line {
  level: string;
  event: string;
  fields: Record<string, unknown>;
}

/** A logger that records lines instead of printing them. */
export function recordingLogger(lines: Line[] = []): Logger & { lines: Line[] } {
  const at =
    (level: string) =>
    (event: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, event, fields });
    };
  const log = {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => log,
  };
  return log;
}

/** A new temp folder, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "edgepush-history-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** History settings for a database file in `dir`, with overrides. */
export function historyConfig(
  dir: string,
  over: Partial<Config["history"]> = {},
): Config["history"] {
  return {
    url: `file:${join(dir, "db", "history.db")}`,
    authToken: "",
    syncUrl: "",
    syncIntervalSeconds: 60,
    memoryWindow: 1000,
    memoryWindowBytes: 64 * 1024 * 1024,
    flushMs: 20,
    batchSize: 500,
    bufferLimit: 100_000,
    retentionIntervalSeconds: 3600,
    ...over,
  };
}

/** Opens a store on `config`; retention keeps everything unless `retentionOf` says otherwise. */
export async function openStore(
  config: Config["history"],
  opts: { log?: Logger; retentionOf?: (room: string) => Retention } = {},
): Promise<LibsqlHistoryStore> {
  const store = new LibsqlHistoryStore({
    config,
    log: opts.log ?? recordingLogger(),
    retentionOf: opts.retentionOf ?? (() => ({ size: 1_000_000, ttlSeconds: 0 })),
  });
  await store.open();
  return store;
}

/** A message of `room` at `offset`. */
export function msg(room: string, offset: number, epoch: string, ts = Date.now()): Message {
  return { room, offset, epoch, from: "alice", data: { n: offset, room }, ts };
}

/** The offsets of a page. */
export const offsets = (page: Message[]) => page.map((m) => m.offset);
