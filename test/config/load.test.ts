import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function file(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "edgepush-config-"));
  dirs.push(dir);
  const path = join(dir, "edgepush.yaml");
  writeFileSync(path, yaml);
  return path;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  test("with nothing given, the embedded defaults run one memory node on 8080", () => {
    const c = loadConfig({ env: {} });
    expect(c.server.port).toBe(8080);
    expect(c.broker.kind).toBe("memory");
    expect(c.history.url).toBe("file:data/edgepush.db");
    expect(c.namespaces.default).toEqual({
      historySize: 100,
      historyTtlSeconds: 86400,
      presence: true,
      publish: "clients",
      subscribe: "authenticated",
    });
    expect(c.node.region).toBe("local");
    expect(c.node.id).toContain(String(process.pid));
  });

  test("a file overrides the defaults and the environment overrides the file", () => {
    const path = file(
      "server:\n  port: 9000\nbroker:\n  kind: redis\n  redisUrl: redis://127.0.0.1:1\n",
    );
    expect(loadConfig({ file: path, env: {} }).server.port).toBe(9000);
    const c = loadConfig({
      file: path,
      env: { PORT: "9100", EDGEPUSH_BROKER: "memory", EDGEPUSH_HOST: "127.0.0.1" },
    });
    expect(c.server.port).toBe(9100);
    expect(c.server.host).toBe("127.0.0.1");
    expect(c.broker.kind).toBe("memory");
    expect(c.broker.redisUrl).toBe("redis://127.0.0.1:1");
  });

  test("EDGEPUSH_CONFIG names the file when --config is absent", () => {
    const path = file("ws:\n  pingSeconds: 7\n");
    expect(loadConfig({ env: { EDGEPUSH_CONFIG: path } }).ws.pingSeconds).toBe(7);
  });

  test("the documented environment variables set their keys", () => {
    const c = loadConfig({
      env: {
        EDGEPUSH_API_KEY: "k".repeat(20),
        EDGEPUSH_JWT_SECRET: "s",
        UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1",
        UPSTASH_REDIS_REST_TOKEN: "t",
        EDGEPUSH_DB_URL: "file:x.db",
        TURSO_AUTH_TOKEN: "a",
        FLY_REGION: "ams",
        FLY_MACHINE_ID: "m1",
      },
    });
    expect(c.auth.apiKeys).toEqual(["k".repeat(20)]);
    expect(c.auth.secret).toBe("s");
    expect(c.broker.upstashUrl).toBe("http://127.0.0.1:1");
    expect(c.history).toMatchObject({ url: "file:x.db", authToken: "a" });
    expect(c.node).toEqual({ id: "m1", region: "ams" });
  });

  test("a namespace entry takes the default namespace's options for what it leaves out", () => {
    const c = loadConfig({ file: file("namespaces:\n  chat:\n    historySize: 5\n"), env: {} });
    expect(c.namespaces.chat).toEqual({ historySize: 5 });
  });

  test("a bad value names the key, the value and the file", () => {
    const path = file("limits:\n  maxFrameBytes: big\n");
    const msg = errorOf(() => loadConfig({ file: path, env: {} }));
    expect(msg).toContain(path);
    expect(msg).toContain("limits.maxFrameBytes");
    expect(msg).toContain('"big"');
  });

  test("an unknown key is refused with its name", () => {
    const msg = errorOf(() => loadConfig({ file: file("limits:\n  maxFrameSize: 1\n"), env: {} }));
    expect(msg).toContain("maxFrameSize");
  });

  test("a bad environment value names the variable, and only that one", () => {
    const env = { PORT: "eighty", EDGEPUSH_HOST: "127.0.0.1", EDGEPUSH_API_KEY: "short" };
    const msg = errorOf(() => loadConfig({ env }));
    expect(msg).toContain('environment variable PORT: server.port = "eighty"');
    expect(msg).toContain('environment variable EDGEPUSH_API_KEY: auth.apiKeys.0 = "short"');
    expect(msg).not.toContain("EDGEPUSH_HOST");
  });

  test("a file that is not YAML, or missing, is named", () => {
    expect(errorOf(() => loadConfig({ file: file("a: [1,"), env: {} }))).toContain(
      "not valid YAML",
    );
    expect(errorOf(() => loadConfig({ file: "/nonexistent/edgepush.yaml", env: {} }))).toContain(
      "/nonexistent/edgepush.yaml",
    );
  });
});
