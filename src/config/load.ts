import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parse as parseYaml } from "yaml";
import defaultsText from "../../config/config.yaml" with { type: "text" };
import { type Config, configSchema } from "../../config/schema.ts";

/** A configuration that could not be loaded, naming the key, its value and where it came from. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Tree = Record<string, unknown>;
type Env = Record<string, string | undefined>;

interface Source {
  name: string;
  tree: Tree;
  /** For the environment: the variable that set each key (`server.port` → `PORT`). */
  variables?: Map<string, string>;
}

const DEFAULTS_FILE = "config/config.yaml (built in)";

/** Environment variables and the key each one sets. */
const envKeys: [string, string, (v: string) => unknown][] = [
  ["EDGEPUSH_HOST", "server.host", String],
  ["PORT", "server.port", (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  ["EDGEPUSH_JWT_SECRET", "auth.secret", String],
  ["EDGEPUSH_JWT_PUBLIC_KEY", "auth.publicKey", String],
  ["EDGEPUSH_JWKS_URL", "auth.jwksUrl", String],
  ["EDGEPUSH_BROKER", "broker.kind", String],
  ["REDIS_URL", "broker.redisUrl", String],
  ["UPSTASH_REDIS_REST_URL", "broker.upstashUrl", String],
  ["UPSTASH_REDIS_REST_TOKEN", "broker.upstashToken", String],
  ["TURSO_DATABASE_URL", "history.url", String],
  ["EDGEPUSH_DB_URL", "history.url", String],
  ["TURSO_AUTH_TOKEN", "history.authToken", String],
  ["FLY_MACHINE_ID", "node.id", String],
  ["FLY_REGION", "node.region", String],
  ["EDGEPUSH_LOG_LEVEL", "log.level", String],
  ["EDGEPUSH_LOG_FORMAT", "log.format", String],
  ["EDGEPUSH_MODE", "server.mode", String],
];

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTree(v) && isTree(out[k]) ? merge(out[k] as Tree, v) : v;
  }
  return out;
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split(".");
  let t = tree;
  for (const k of keys.slice(0, -1)) {
    if (!isTree(t[k])) t[k] = {};
    t = t[k] as Tree;
  }
  t[keys[keys.length - 1] as string] = value;
}

function hasPath(tree: Tree, path: (string | number | symbol)[]): boolean {
  let t: unknown = tree;
  for (const k of path) {
    if (!isTree(t) || !(String(k) in t)) return false;
    t = t[String(k)];
  }
  return true;
}

function getPath(tree: Tree, path: (string | number | symbol)[]): unknown {
  let t: unknown = tree;
  for (const k of path) t = isTree(t) || Array.isArray(t) ? (t as Tree)[String(k)] : undefined;
  return t;
}

function readYaml(name: string, text: string): Tree {
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${name}: not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError(`${name}: the top level must be a mapping`);
  return parsed;
}

function envSource(env: Env): Source {
  const tree: Tree = {};
  const variables = new Map<string, string>();
  for (const [name, key, cast] of envKeys) {
    const v = env[name];
    if (v === undefined || v === "") continue;
    setPath(tree, key, cast(v));
    variables.set(key, name);
  }
  if (env.EDGEPUSH_API_KEY) {
    setPath(tree, "auth.apiKeys", [env.EDGEPUSH_API_KEY]);
    variables.set("auth.apiKeys", "EDGEPUSH_API_KEY");
  }
  return { name: "environment", tree, variables };
}

function describeSource(sources: Source[], path: (string | number | symbol)[]): string {
  const key = path.slice(0, 2).map(String).join(".");
  for (let i = sources.length - 1; i >= 0; i--) {
    const s = sources[i] as Source;
    if (!hasPath(s.tree, path.slice(0, 2))) continue;
    const variable = s.variables?.get(key);
    return variable ? `environment variable ${variable}` : s.name;
  }
  return DEFAULTS_FILE;
}

function fillIdentity(config: Config): Config {
  if (!config.node.id) config.node.id = `${hostname()}-${process.pid}`;
  if (!config.node.region) config.node.region = "local";
  return config;
}

/**
 * Loads the configuration: the built-in defaults, then the file named by `file` (or
 * `EDGEPUSH_CONFIG`), then environment variables. Throws a ConfigError naming the bad key,
 * its value and the file it came from.
 *
 * @example
 * const config = loadConfig({ file: "config/prod.yaml", env: process.env });
 */
export function loadConfig(opts: { file?: string; env?: Env; overrides?: Tree } = {}): Config {
  const env = opts.env ?? process.env;
  const sources: Source[] = [{ name: DEFAULTS_FILE, tree: readYaml(DEFAULTS_FILE, defaultsText) }];
  const file = opts.file ?? env.EDGEPUSH_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`${file}: cannot read config file: ${(err as Error).message}`);
    }
    sources.push({ name: file, tree: readYaml(file, text) });
  }
  sources.push(envSource(env));
  if (opts.overrides) sources.push({ name: "overrides", tree: opts.overrides });

  const merged = sources.reduce<Tree>((acc, s) => merge(acc, s.tree), {});
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.map(String).join(".") || "(top level)";
      const value = JSON.stringify(getPath(merged, issue.path));
      const where = describeSource(sources, issue.path);
      const shown = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : value;
      const name = issue.code === "unrecognized_keys" ? `${key} (unknown key)` : key;
      return `${where}: ${name} = ${shown}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return fillIdentity(result.data);
}
