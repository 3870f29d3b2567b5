const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A fresh random epoch: 8 URL-safe characters (48 random bits). */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let out = "";
  for (const b of bytes) out += ALPHABET[b & 63];
  return out;
}

/**
 * The epoch a room has before anything was written for it: derived from the database's own
 * id and the room name, so every node and every restart agrees on it without a write. A
 * room's row is created by its first written message (or dirty mark) with this epoch.
 */
export function firstEpoch(databaseId: string, room: string): string {
  const digest = new Bun.CryptoHasher("sha256").update(`${databaseId}\n${room}`).digest();
  let out = "";
  for (let i = 0; i < 8; i++) out += ALPHABET[(digest[i] as number) & 63];
  return out;
}
