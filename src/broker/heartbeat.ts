import type { LocalView } from "./types.ts";

/** How the next heartbeat writes this node's counts. */
export type HeartbeatMode = "full" | "diff";

/** This node's identity as its record in Redis shows it. */
export interface NodeIdentity {
  prefix: string;
  channel: string;
  node: string;
  region: string;
  startedAt: string;
  ttlSeconds: number;
}

function changes(now: Map<string, number>, before: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [key, n] of now) if (before.get(key) !== n) out.push(key, String(n));
  for (const key of before.keys()) if (!now.has(key)) out.push(key, "0");
  return out;
}

function flat(map: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [key, n] of map) out.push(key, String(n));
  return out;
}

/**
 * Builds the arguments of the heartbeat script from the node's connections: everything in
 * "full" mode, only what changed since the last write in "diff" mode (undefined when nothing
 * did). The caller reports a successful write with `written`.
 */
export class Heartbeat {
  #users = new Map<string, number>();
  #rooms = new Map<string, number>();

  constructor(
    private readonly id: NodeIdentity,
    private readonly local: LocalView,
  ) {}

  /**
   * The script's ARGV, and the snapshot to remember once it ran. `presence` also sends every
   * room's users on this node (after connecting), replacing what Redis holds for the node.
   */
  args(
    mode: HeartbeatMode,
    presence: boolean,
  ): { argv: string[]; snapshot: [Map<string, number>, Map<string, number>] } | undefined {
    const users = this.local.users();
    const rooms = this.local.rooms();
    const u = mode === "full" ? flat(users) : changes(users, this.#users);
    const r = mode === "full" ? flat(rooms) : changes(rooms, this.#rooms);
    if (mode === "diff" && u.length === 0 && r.length === 0) return undefined;
    const p: string[] = [];
    let presenceRooms = -1;
    if (presence) {
      presenceRooms = 0;
      for (const room of rooms.keys()) {
        const present = this.local.presence(room);
        p.push(room, String(present.length), ...present);
        presenceRooms++;
      }
    }
    const { prefix, channel, node, region, startedAt, ttlSeconds } = this.id;
    const head = [prefix, channel, node, String(ttlSeconds), region];
    const argv = [
      ...head,
      String(this.local.connections()),
      startedAt,
      mode,
      String(u.length / 2),
      String(r.length / 2),
      String(presenceRooms),
      ...u,
      ...r,
      ...p,
    ];
    return { argv, snapshot: [users, rooms] };
  }

  /** Remembers what the last successful heartbeat wrote. */
  written(snapshot: [Map<string, number>, Map<string, number>]): void {
    [this.#users, this.#rooms] = snapshot;
  }
}
