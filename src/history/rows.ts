import { and, asc, desc, eq, gt, lt, sql } from "drizzle-orm";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import type { Message, Position } from "../protocol/frames.ts";
import { type MessageRow, messages, rooms } from "./schema.ts";
import type { HistoryQuery } from "./types.ts";

/** The drizzle database over the history schema. */
export type Db = LibSQLDatabase<Record<string, never>>;

/** Rows per INSERT statement: 6 parameters each, well under SQLite's parameter limit. */
const ROWS_PER_INSERT = 1000;

function toRow(m: Message): MessageRow {
  return {
    room: m.room,
    offset: m.offset,
    epoch: m.epoch,
    sender: m.from ?? null,
    data: JSON.stringify(m.data ?? null),
    ts: m.ts,
  };
}

function toMessage(r: MessageRow): Message {
  const m: Message = {
    room: r.room,
    offset: r.offset,
    epoch: r.epoch,
    data: JSON.parse(r.data),
    ts: r.ts,
  };
  if (r.sender !== null) m.from = r.sender;
  return m;
}

/** The last position of each room in a batch: the epoch of its latest row, and its offset. */
function lastPositions(batch: Message[]): Map<string, Position> {
  const out = new Map<string, Position>();
  for (const m of batch) {
    const seen = out.get(m.room);
    if (!seen || seen.epoch !== m.epoch || m.offset > seen.offset) {
      out.set(m.room, { offset: m.offset, epoch: m.epoch });
    }
  }
  return out;
}

/**
 * Writes a batch in one transaction: multi-row inserts of the messages (a row at an existing
 * offset is replaced, as after an epoch change) and each room's last offset. A room whose
 * epoch changes takes the batch's offset; otherwise its last offset only moves forward.
 */
export async function writeBatch(db: Db, batch: Message[]): Promise<void> {
  if (batch.length === 0) return;
  const rows = batch.map(toRow);
  const inserts = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    inserts.push(
      db
        .insert(messages)
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .onConflictDoUpdate({
          target: [messages.room, messages.offset],
          set: {
            epoch: sql`excluded.epoch`,
            sender: sql`excluded.sender`,
            data: sql`excluded.data`,
            ts: sql`excluded.ts`,
          },
        }),
    );
  }
  const positions = [...lastPositions(batch)].map(([room, p]) => ({
    room,
    epoch: p.epoch,
    lastOffset: p.offset,
  }));
  const upsert = db
    .insert(rooms)
    .values(positions)
    .onConflictDoUpdate({
      target: rooms.room,
      set: {
        lastOffset: sql`CASE WHEN ${rooms.epoch} = excluded.epoch
          THEN max(${rooms.lastOffset}, excluded.last_offset) ELSE excluded.last_offset END`,
        epoch: sql`excluded.epoch`,
      },
    });
  const [first, ...rest] = inserts;
  if (!first) return;
  await db.batch([first, ...rest, upsert]);
}

/** The stored position of a room, if the room is known. */
export async function storedPosition(db: Db, room: string): Promise<Position | undefined> {
  const found = await db
    .select({ offset: rooms.lastOffset, epoch: rooms.epoch })
    .from(rooms)
    .where(eq(rooms.room, room));
  return found[0];
}

/** Records a new room at offset 0 unless another caller recorded it first; returns the winner. */
export async function createRoom(db: Db, room: string, epoch: string): Promise<Position> {
  await db.insert(rooms).values({ room, epoch, lastOffset: 0 }).onConflictDoNothing();
  const stored = await storedPosition(db, room);
  if (!stored) throw new Error(`room "${room}" missing right after insert`);
  return stored;
}

/** Stored messages of a room for a query, oldest first. */
export async function readStored(db: Db, room: string, q: HistoryQuery): Promise<Message[]> {
  const base = db.select().from(messages);
  if (q.since !== undefined) {
    const where = and(eq(messages.room, room), gt(messages.offset, q.since));
    const upper = q.before !== undefined ? and(where, lt(messages.offset, q.before)) : where;
    const rows = await base.where(upper).orderBy(asc(messages.offset)).limit(q.limit);
    return rows.map(toMessage);
  }
  const where =
    q.before !== undefined
      ? and(eq(messages.room, room), lt(messages.offset, q.before))
      : eq(messages.room, room);
  const rows = await base.where(where).orderBy(desc(messages.offset)).limit(q.limit);
  return rows.map(toMessage).reverse();
}
