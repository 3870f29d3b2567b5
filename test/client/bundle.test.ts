import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clientBundle } from "../../src/client/bundle.ts";

test("the browser bundle is one small ES module exporting the client, with no server code", async () => {
  const text = await clientBundle();
  expect(await clientBundle()).toBe(text); // built once, then cached
  expect(text.length).toBeLessThan(20_000);
  for (const server of ["hono", "drizzle", "libsql", "jose", "Bun.serve"]) {
    expect(text).not.toContain(server);
  }
  const file = join(mkdtempSync(join(tmpdir(), "edgepush-bundle-")), "client.js");
  writeFileSync(file, text);
  const mod = await import(file);
  expect(typeof mod.EdgepushClient).toBe("function");
  const client = new mod.EdgepushClient({ url: "ws://127.0.0.1:1/v1/ws", token: "t" });
  expect(client.state).toBe("idle");
});
