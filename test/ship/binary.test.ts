import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compile } from "../../src/build/compile.ts";
import { type NodeProcess, spawnNode } from "../support/node.ts";

const ROOT = resolve(import.meta.dir, "../..");
const ROOM = "ship:binary";

describe("the compiled binary", () => {
  const buildDir = mkdtempSync(join(tmpdir(), "edgepush-build-"));
  // An empty folder with only the executable: no node_modules, no sources, no config.
  const runDir = mkdtempSync(join(tmpdir(), "edgepush-bin-"));
  const binary = join(runDir, "edgepush");
  const started: NodeProcess[] = [];

  beforeAll(async () => {
    await compile({ entry: join(ROOT, "src/cli.ts"), outfile: join(buildDir, "edgepush") });
    copyFileSync(join(buildDir, "edgepush"), binary);
  }, 120_000);

  afterAll(async () => {
    for (const node of started) await node.kill();
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  });

  test("is one file: the build leaves nothing beside the executable", () => {
    expect(readdirSync(buildDir)).toEqual(["edgepush"]);
  });

  test("serves from an empty folder and keeps history in libSQL across a restart", async () => {
    const first = await spawnNode({ dir: runDir, command: [binary, "serve"] });
    started.push(first);
    expect((await first.api("/v1/health", { key: null })).status).toBe(200);

    const acks: { offset: number; epoch: string }[] = [];
    for (let i = 1; i <= 3; i++) {
      const res = await first.api("/v1/publish", { body: { room: ROOM, data: { n: i } } });
      expect(res.status).toBe(200);
      acks.push((await res.json()) as { offset: number; epoch: string });
    }
    expect(acks.map((a) => a.offset)).toEqual([1, 2, 3]);
    expect(await first.stop()).toBe(0);

    const second = await spawnNode({ ...first.again(), command: [binary, "serve"] });
    started.push(second);
    const res = await second.api(`/v1/rooms/${encodeURIComponent(ROOM)}/history`);
    expect(res.status).toBe(200);
    const history = (await res.json()) as {
      epoch: string;
      messages: { offset: number; data: unknown }[];
    };
    expect(history.epoch).toBe(acks[0]?.epoch as string);
    expect(history.messages.map((m) => [m.offset, m.data])).toEqual([
      [1, { n: 1 }],
      [2, { n: 2 }],
      [3, { n: 3 }],
    ]);
    expect(await second.stop()).toBe(0);
  }, 60_000);
});
