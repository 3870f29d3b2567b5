import { afterEach, beforeEach, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { filePath, modeOf } from "../../src/history/connect.ts";
import { migrateDatabase } from "../../src/history/index.ts";
import { applyMigrations, MIGRATIONS } from "../../src/history/migrations.ts";
import { LibsqlHistoryStore } from "../../src/history/store.ts";
import { historyConfig, recordingLogger, tempDir } from "./fixtures.ts";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

const tables = async (url: string) => {
  const db = createClient({ url });
  const rs = await db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  db.close();
  return rs.rows.map((r) => String(r.name));
};

test("migrate creates the database folder and tables once, however often it runs", async () => {
  const config = historyConfig(tmp.dir);
  const log = recordingLogger();
  await migrateDatabase(config, log);
  await migrateDatabase(config, log);
  expect(await tables(config.url)).toEqual([
    "edgepush_meta",
    "edgepush_migrations",
    "messages",
    "rooms",
  ]);
  const applied = log.lines.filter((l) => l.event === "migration applied");
  expect(applied.map((l) => l.fields.name)).toEqual(MIGRATIONS.map((m) => m.name));
  expect(
    log.lines.filter((l) => l.event === "migrations done").map((l) => l.fields.applied),
  ).toEqual([MIGRATIONS.length, 0]);
});

test("two clients migrating one new file at once apply each migration once", async () => {
  const url = historyConfig(tmp.dir, { url: `file:${tmp.dir}/shared.db` }).url;
  const a = createClient({ url });
  const b = createClient({ url });
  const counts = await Promise.all([
    applyMigrations(a, recordingLogger()),
    applyMigrations(b, recordingLogger()),
  ]);
  a.close();
  b.close();
  expect(counts[0] + counts[1]).toBe(MIGRATIONS.length);
  expect(await tables(url)).toContain("messages");
});

test("the URL picks the mode: local file, remote, or embedded replica", () => {
  const base = historyConfig(tmp.dir);
  expect(modeOf(base)).toBe("file");
  expect(modeOf({ ...base, url: "libsql://db.example.turso.io" })).toBe("remote");
  expect(modeOf({ ...base, url: "https://db.example.turso.io" })).toBe("remote");
  expect(modeOf({ ...base, syncUrl: "libsql://db.example.turso.io" })).toBe("replica");
  expect(filePath("file:data/edgepush.db")).toBe("data/edgepush.db");
  expect(filePath("file:///var/lib/edgepush/h.db")).toBe("/var/lib/edgepush/h.db");
  expect(filePath(":memory:")).toBeUndefined();
});

test("a remote store whose server does not answer fails to open with the connection error", async () => {
  const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const url = `http://127.0.0.1:${closed.port}`;
  await closed.stop(true);
  const store = new LibsqlHistoryStore({
    config: historyConfig(tmp.dir, { url, authToken: "token" }),
    log: recordingLogger(),
    retentionOf: () => ({ size: 10, ttlSeconds: 0 }),
  });
  await expect(store.open()).rejects.toThrow();
});

test("every migration drizzle-kit generated is embedded, in its order", async () => {
  const journal = (await Bun.file(
    new URL("../../src/history/drizzle/meta/_journal.json", import.meta.url),
  ).json()) as { entries: { idx: number; tag: string }[] };
  const tags = journal.entries.sort((a, b) => a.idx - b.idx).map((e) => e.tag);
  expect(MIGRATIONS.map((m) => m.name)).toEqual(tags);
  for (const m of MIGRATIONS) {
    const file = new URL(`../../src/history/drizzle/${m.name}.sql`, import.meta.url);
    expect(m.sql).toBe(await Bun.file(file).text());
  }
});
