import { connect, type Socket } from "node:net";
import { SignJWT } from "jose";
import type { Frame } from "../support/client.ts";
import { TEST_SECRET } from "../support/node.ts";

/** Small helpers the conformance suite shares; plain WebSocket clients do the rest. */

/** Matches `message` frames of one room. */
export const messageIn =
  (room: string) =>
  (f: Frame): boolean =>
    f.type === "message" && f.room === room;

/** A token for `sub` signed with the test secret, expiring `ttlSeconds` from now (may be past). */
export async function signed(
  sub: string,
  ttlSeconds = 3600,
  secret = TEST_SECRET,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt(now - 7200)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

/**
 * A WebSocket opened over a raw TCP socket that stops reading after the upgrade request, so
 * the server's unsent data piles up; `closeCode` later reads everything the server sent and
 * returns the code of its close frame.
 */
export class StalledSocket {
  readonly #chunks: Buffer[] = [];
  readonly #ended: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.#ended = new Promise((resolve) => {
      socket.on("data", (chunk: Buffer) => this.#chunks.push(chunk));
      socket.on("close", () => resolve());
      socket.on("error", () => resolve());
    });
  }

  /** Sends the upgrade for `path` (with its query) and stops reading. */
  static async open(port: number, path: string): Promise<StalledSocket> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const stalled = new StalledSocket(socket);
    socket.pause();
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    return stalled;
  }

  /** Resumes reading until the server ends the connection; the close frame's code, if any. */
  async closeCode(): Promise<number | undefined> {
    this.socket.resume();
    await this.#ended;
    const bytes = Buffer.concat(this.#chunks);
    const headerEnd = bytes.indexOf("\r\n\r\n");
    if (headerEnd < 0) return undefined;
    return findCloseCode(bytes.subarray(headerEnd + 4));
  }
}

/** Walks server (unmasked) WebSocket frames and returns the code of the first close frame. */
function findCloseCode(data: Buffer): number | undefined {
  let at = 0;
  while (at + 2 <= data.length) {
    const opcode = (data[at] as number) & 0x0f;
    let length = (data[at + 1] as number) & 0x7f;
    let header = 2;
    if (length === 126) {
      length = data.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      length = Number(data.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (opcode === 0x8) return length >= 2 ? data.readUInt16BE(at + header) : undefined;
    at += header + length;
  }
  return undefined;
}
