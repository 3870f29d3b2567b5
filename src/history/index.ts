import type { Config } from "../../config/schema.ts";
import type { Logger } from "../log.ts";
import { openClient } from "./connect.ts";
import { applyMigrations } from "./migrations.ts";
import { LibsqlHistoryStore, type StoreOptions } from "./store.ts";
import type { HistoryStore } from "./types.ts";

export { LibsqlHistoryStore } from "./store.ts";

/**
 * Creates the history store named by `config.url` (local file, remote libSQL, or embedded
 * replica with `syncUrl`). Call `open()` before use.
 *
 * @example
 * const store = createHistoryStore({ config: config.history, log, retentionOf });
 * await store.open();
 * store.append(message);
 */
export function createHistoryStore(opts: StoreOptions): HistoryStore {
  return new LibsqlHistoryStore(opts);
}

/** Applies pending migrations to the configured database and closes it (`edgepush migrate`). */
export async function migrateDatabase(config: Config["history"], log: Logger): Promise<void> {
  const client = await openClient(config);
  try {
    const applied = await applyMigrations(client, log);
    log.info("migrations done", { applied });
  } finally {
    client.close();
  }
}
