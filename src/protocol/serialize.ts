import type { Message } from "./frames.ts";

/**
 * The `message` frame of a message, as JSON text. Serialised once per message per node and
 * handed to every subscriber by Bun.
 */
export function messageFrame(m: Message): string {
  return JSON.stringify({
    type: "message",
    room: m.room,
    offset: m.offset,
    epoch: m.epoch,
    from: m.from,
    data: m.data,
    ts: m.ts,
  });
}

/** A message as an item of a `history` reply or an HTTP history answer. */
export function historyItem(m: Message): Message {
  const item: Message = { room: m.room, offset: m.offset, epoch: m.epoch, data: m.data, ts: m.ts };
  if (m.from !== undefined) item.from = m.from;
  return item;
}
