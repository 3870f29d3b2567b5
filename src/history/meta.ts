import type { Client } from "@libsql/client";
import { newEpoch } from "./epoch.ts";

/**
 * The database's own random id, made once and shared by every node using the database.
 * Concurrent first starts agree: insert-or-ignore, then read back.
 */
export async function databaseId(client: Client): Promise<string> {
  await client.execute({
    sql: "INSERT INTO edgepush_meta (key, value) VALUES ('database_id', ?) ON CONFLICT DO NOTHING",
    args: [`${newEpoch()}${newEpoch()}`],
  });
  const rs = await client.execute("SELECT value FROM edgepush_meta WHERE key = 'database_id'");
  const id = rs.rows[0]?.value;
  if (typeof id !== "string") throw new Error("edgepush_meta has no database_id");
  return id;
}
