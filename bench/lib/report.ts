/**
 * Benchmark output: a JSON file per scenario in bench/results/ and a table on stdout.
 */
import { execSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";

const RESULTS = resolve(import.meta.dir, "../results");

type Row = Record<string, string | number>;

/** Reads a numeric setting from the environment, with a default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

/** Reads a comma-separated list setting from the environment, with a default. */
export function envList(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  return raw
    ? raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : fallback;
}

function commit(): string {
  try {
    return execSync("git rev-parse --short HEAD", { cwd: RESULTS, stdio: "pipe" })
      .toString()
      .trim();
  } catch {
    return "unknown";
  }
}

/** Where and on what a run happened. */
export function machine(): Record<string, string | number> {
  const nodeVersion = (() => {
    try {
      return execSync("node --version", { stdio: "pipe" }).toString().trim();
    } catch {
      return "absent";
    }
  })();
  return {
    date: new Date().toISOString(),
    commit: commit(),
    bun: Bun.version,
    node: nodeVersion,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** Formats rows as an aligned text table. */
export function table(rows: Row[]): string {
  if (rows.length === 0) return "(no rows)";
  const columns = Object.keys(rows[0] ?? {});
  const cell = (v: string | number | undefined) =>
    typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : (v ?? "");
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] ?? 0)).join("  ");
  return [
    line(columns),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join("\n");
}

/**
 * Writes `bench/results/<scenario>.json` (settings, machine, rows, ratios) and prints the
 * table and ratios.
 */
export function report(
  scenario: string,
  settings: Record<string, unknown>,
  rows: Row[],
  ratios: Record<string, number> = {},
): void {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${scenario}.json`);
  // A ratio against a server left out of the run is not a figure.
  const measured = Object.fromEntries(Object.entries(ratios).filter(([, v]) => Number.isFinite(v)));
  const body = { scenario, machine: machine(), settings, rows, ratios: measured };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  process.stdout.write(`\n${scenario}\n${table(rows)}\n`);
  for (const [name, value] of Object.entries(measured)) {
    process.stdout.write(`${name}: ${value.toFixed(3)}\n`);
  }
  process.stdout.write(`written ${file}\n`);
}

/** The q-quantile (0..1) of sorted numbers. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}
