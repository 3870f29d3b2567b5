/** Levels in increasing order of importance. */
export type Level = "debug" | "info" | "warn" | "error";

const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

type Fields = Record<string, unknown>;

/** One line per event worth knowing: JSON for log collectors, readable in a terminal. */
export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  level: Level;
  format: "auto" | "json" | "pretty";
  /** Where lines go; stdout by default. */
  write?: (line: string) => void;
}

function pretty(level: Level, event: string, fields: Fields): string {
  const time = new Date().toISOString().slice(11, 23);
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time} ${level.toUpperCase().padEnd(5)} ${event}${rest ? ` ${rest}` : ""}`;
}

/**
 * Creates a logger.
 *
 * @example
 * const log = createLogger({ level: "info", format: "auto" });
 * log.info("listening", { port: 8080 });
 */
export function createLogger(opts: LoggerOptions, base: Fields = {}): Logger {
  const min = rank[opts.level];
  const json = opts.format === "json" || (opts.format === "auto" && !process.stdout.isTTY);
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (level: Level, event: string, fields?: Fields) => {
    if (rank[level] < min) return;
    const all = { ...base, ...fields };
    write(
      json
        ? JSON.stringify({ time: new Date().toISOString(), level, event, ...all })
        : pretty(level, event, all),
    );
  };
  return {
    debug: (e, f) => emit("debug", e, f),
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
    child: (fields) => createLogger(opts, { ...base, ...fields }),
  };
}

/** A logger that writes nothing, for benchmarks and embedded use. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
