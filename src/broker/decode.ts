import type { Message } from "../protocol/frames.ts";

/** Field/value pairs of a flat list (HGETALL in a script, XRANGE entry fields). */
export function pairs(list: unknown): [string, string][] {
  if (!Array.isArray(list)) return [];
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < list.length; i += 2) out.push([String(list[i]), String(list[i + 1])]);
  return out;
}

/** Sums per-node hashes of counts (a list of flat field/value lists) into one map. */
export function sumCounts(lists: unknown, into: Map<string, number>): Map<string, number> {
  for (const list of Array.isArray(lists) ? lists : []) {
    for (const [key, n] of pairs(list)) into.set(key, (into.get(key) ?? 0) + Number(n));
  }
  return into;
}

/** A hot-history stream entry (`<offset>-0`, fields h, f, d, t) as a message. */
export function entryMessage(room: string, epoch: string, entry: unknown): Message {
  const [id, fields] = entry as [string, unknown];
  const f = Object.fromEntries(pairs(fields));
  const message: Message = {
    room,
    offset: Number.parseInt(String(id), 10),
    epoch,
    data: JSON.parse(f.d ?? "null"),
    ts: Number(f.t),
  };
  if (f.h === "1" && f.f !== undefined) message.from = f.f;
  return message;
}
