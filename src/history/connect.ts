import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type Client, createClient } from "@libsql/client";
import type { Config } from "../../config/schema.ts";

type HistoryConfig = Config["history"];

/**
 * How long a local write waits for another connection's lock (two nodes on one file) before
 * failing and being retried. The local driver is synchronous, so this also bounds how long
 * a write can hold up the event loop.
 */
const BUSY_TIMEOUT_MS = 50;

/** How the store reaches its database. */
export type Mode = "file" | "remote" | "replica";

/** The mode a history config selects: a remote URL, a local file, or a file synced from afar. */
export function modeOf(config: HistoryConfig): Mode {
  if (!config.url.startsWith("file:") && config.url !== ":memory:") return "remote";
  return config.syncUrl ? "replica" : "file";
}

/** The path of a `file:` URL, or undefined for an in-memory database. */
export function filePath(url: string): string | undefined {
  if (url === ":memory:" || url === "file::memory:") return undefined;
  const rest = url.slice("file:".length).split("?")[0] ?? "";
  return rest.startsWith("//") ? decodeURIComponent(new URL(url).pathname) : rest;
}

/**
 * Opens a libSQL client for the history config: a local file (its folder created, WAL
 * journal), a remote database with the auth token, or an embedded replica of `syncUrl`.
 */
export async function openClient(config: HistoryConfig): Promise<Client> {
  const mode = modeOf(config);
  if (mode === "remote") {
    return createClient({ url: config.url, authToken: config.authToken || undefined });
  }
  const path = filePath(config.url);
  if (path) mkdirSync(dirname(path), { recursive: true });
  if (mode === "replica") {
    const client = createClient({
      url: config.url,
      syncUrl: config.syncUrl,
      authToken: config.authToken || undefined,
      syncInterval: config.syncIntervalSeconds > 0 ? config.syncIntervalSeconds : undefined,
      timeout: BUSY_TIMEOUT_MS,
    });
    await client.sync();
    return client;
  }
  const client = createClient({ url: config.url, timeout: BUSY_TIMEOUT_MS });
  if (path) await client.execute("PRAGMA journal_mode = WAL");
  return client;
}
