import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { LibsqlHistoryStore } from "../../src/history/store.ts";
import { startTursoServer, type TursoServer } from "../support/tursodb.ts";
import { historyConfig, recordingLogger, tempDir } from "./fixtures.ts";

// No sqld can be installed here; tursodb's sync server is the only libSQL HTTP server at hand.
// It speaks part of the protocol, so these tests go as far as it does (src/history/README.md).

const tmp = tempDir();
let server: TursoServer;

beforeAll(async () => {
  server = await startTursoServer(join(tmp.dir, "remote.db"));
});
afterAll(async () => {
  await server.stop();
  tmp.remove();
});

test("tursodb answers a pipeline made only of execute steps", async () => {
  const res = await fetch(`${server.url}/v2/pipeline`, {
    method: "POST",
    body: JSON.stringify({ requests: [{ type: "execute", stmt: { sql: "SELECT 41 + 1 AS n" } }] }),
  });
  const body = (await res.json()) as { results: { response: { result: { rows: unknown } } }[] };
  expect(body.results[0]?.response.result.rows).toEqual([[{ type: "integer", value: "42" }]]);
});

test("a store in remote mode reaches the server, which refuses the client's close step, so open fails", async () => {
  const log = recordingLogger();
  const store = new LibsqlHistoryStore({
    config: historyConfig(tmp.dir, { url: server.url, authToken: "token" }),
    log,
    retentionOf: () => ({ size: 10, ttlSeconds: 0 }),
  });
  await expect(store.open()).rejects.toThrow(/unknown variant `close`/);
  expect(log.lines.filter((l) => l.event === "history open")).toEqual([]);
});
