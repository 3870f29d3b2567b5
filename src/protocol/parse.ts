import { ErrorCode } from "./codes.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "./depth.ts";
import type { ClientFrame, Position } from "./frames.ts";

/** What parsing a client frame yields: the frame, or the error to answer with. */
export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; id?: number; type?: string; code: ErrorCode; message: string };

type Fields = Record<string, unknown>;

const MAX_ID = 2 ** 31;

const knownTypes = new Set([
  "connect",
  "subscribe",
  "unsubscribe",
  "publish",
  "send",
  "presence",
  "history",
  "refresh",
  "ping",
  "pong",
]);

class FrameError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function fail(message: string): never {
  throw new FrameError(ErrorCode.badRequest, message);
}

function str(f: Fields, key: string): string {
  const v = f[key];
  if (typeof v !== "string" || v.length === 0) fail(`"${key}" must be a non-empty string`);
  return v;
}

function optInt(f: Fields, key: string, min: number): number | undefined {
  const v = f[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    fail(`"${key}" must be an integer of at least ${min}`);
  }
  return v;
}

/** A history `limit`: any integer of at least 1; one above the cap is the cap (server/session.ts). */
function optLimit(f: Fields): number | undefined {
  const v = f.limit;
  if (v === undefined) return undefined;
  // A number too long for a double parses as Infinity: still a limit above the cap.
  if (typeof v !== "number" || !(Number.isInteger(v) || v === Infinity) || v < 1) {
    fail(`"limit" must be an integer of at least 1`);
  }
  return Math.min(v, Number.MAX_SAFE_INTEGER);
}

function optBool(f: Fields, key: string): boolean | undefined {
  const v = f[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") fail(`"${key}" must be a boolean`);
  return v;
}

function optPosition(f: Fields, key: string): Position | undefined {
  const v = f[key];
  if (v === undefined) return undefined;
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(`"${key}" must be an object`);
  const p = v as Fields;
  if (typeof p.epoch !== "string" || p.epoch.length === 0) {
    fail(`"${key}.epoch" must be a non-empty string`);
  }
  if (typeof p.offset !== "number" || !Number.isSafeInteger(p.offset) || p.offset < 0) {
    fail(`"${key}.offset" must be a non-negative integer`);
  }
  return { offset: p.offset, epoch: p.epoch };
}

function requireData(f: Fields): unknown {
  if (!("data" in f) || f.data === undefined) fail(`"data" is required`);
  return f.data;
}

function build(type: string, f: Fields, id: number | undefined): ClientFrame {
  switch (type) {
    case "connect":
      return {
        type,
        id,
        token: f.token === undefined ? undefined : str(f, "token"),
        inbox: optPosition(f, "inbox"),
      };
    case "subscribe":
      return {
        type,
        id,
        room: str(f, "room"),
        since: optPosition(f, "since"),
        presence: optBool(f, "presence"),
      };
    case "unsubscribe":
      return { type, id, room: str(f, "room") };
    case "publish":
      return { type, id, room: str(f, "room"), data: requireData(f) };
    case "send":
      return { type, id, to: str(f, "to"), data: requireData(f) };
    case "presence":
      return { type, id, room: str(f, "room") };
    case "history": {
      const since = optInt(f, "since", 0);
      const before = optInt(f, "before", 1);
      if (since !== undefined && before !== undefined) fail(`give "since" or "before", not both`);
      return { type, id, room: str(f, "room"), since, before, limit: optLimit(f) };
    }
    case "refresh":
      return { type, id, token: str(f, "token") };
    case "ping":
    case "pong":
      return { type, id };
    default:
      throw new FrameError(ErrorCode.unknownType, `unknown frame type "${type}"`);
  }
}

/**
 * The `id` and `type` of a frame refused for its nesting, so that the error still answers the
 * request it refuses; nothing when the text does not parse.
 */
function idAndType(text: string): { id?: number; type?: string } {
  try {
    const f = JSON.parse(text) as Fields;
    const id = f.id;
    const valid = typeof id === "number" && Number.isInteger(id) && id >= 1 && id < MAX_ID;
    return {
      id: valid ? id : undefined,
      type: typeof f.type === "string" ? f.type : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * Parses and validates one client text frame.
 *
 * @example
 * const r = parseClientFrame('{"type":"ping","id":9}');
 * if (r.ok) r.frame.type; // "ping"
 */
export function parseClientFrame(text: string): ParseResult {
  if (nestsDeeperThan(text)) {
    return {
      ok: false,
      ...idAndType(text),
      code: ErrorCode.badRequest,
      message: `frame nests deeper than ${MAX_JSON_DEPTH} levels`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.badRequest, message: "frame is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.badRequest, message: "frame must be a JSON object" };
  }
  const f = value as Fields;
  const rawId = f.id;
  let id: number | undefined;
  if (rawId !== undefined) {
    if (typeof rawId !== "number" || !Number.isInteger(rawId) || rawId < 1 || rawId >= MAX_ID) {
      return {
        ok: false,
        type: typeof f.type === "string" ? f.type : undefined,
        code: ErrorCode.badRequest,
        message: `"id" must be an integer in [1, 2^31)`,
      };
    }
    id = rawId;
  }
  if (typeof f.type !== "string") {
    return { ok: false, id, code: ErrorCode.badRequest, message: `"type" must be a string` };
  }
  if (!knownTypes.has(f.type)) {
    return {
      ok: false,
      id,
      code: ErrorCode.unknownType,
      message: `unknown frame type "${f.type}"`,
    };
  }
  try {
    return { ok: true, frame: build(f.type, f, id) };
  } catch (err) {
    if (err instanceof FrameError) {
      return { ok: false, id, type: f.type, code: err.code, message: err.message };
    }
    throw err;
  }
}
