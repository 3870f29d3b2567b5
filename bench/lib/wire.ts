/**
 * A WebSocket client written directly on a TCP socket (RFC 6455), for the benchmark clients.
 *
 * A runtime's WebSocket object turns every text frame into a string and an event, a cost that
 * grows with the frame: servers whose frames carry more fields would then be charged for the
 * client's decoding. This client reads frame headers from the bytes as they arrive and tests a
 * message frame by a byte prefix only, so that a delivery costs the client the same whatever
 * the server. Frames that are not messages (handshakes, pings, errors) are few and decoded.
 */
import type { Socket } from "bun";

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEADER_END = encoder.encode("\r\n\r\n");

/** Reads from the kernel across all connections of the process (frames per read show batching). */
export const wireStats = { reads: 0 };

/** What a connection reports to its owner. */
export interface WireHandlers {
  /** The upgrade succeeded. */
  open(): void;
  /** A text frame that starts with the message prefix: a delivery. */
  message(bytes: Uint8Array, start: number, end: number): void;
  /** Any other text frame, decoded. */
  text(text: string): void;
  /** The connection ended: the close code the server sent, 1006 when it sent none. */
  close(code: number, reason: string): void;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** One client connection. */
export class WireSocket {
  #socket: Socket<undefined> | undefined;
  #upgraded = false;
  #closed = false;
  /** A close frame was sent: nothing more is written, and the socket ends once flushed. */
  #closing = false;
  /** Bytes received and not yet parsed (a partial frame or response header). */
  #pending: Uint8Array = new Uint8Array(0);
  /** Bytes the kernel did not take yet. */
  #unsent: Uint8Array[] = [];
  /** State of the xorshift generator that draws a new masking key for every frame. */
  #seed: number;

  private constructor(
    private readonly prefix: Uint8Array,
    private readonly handlers: WireHandlers,
  ) {
    this.#seed = crypto.getRandomValues(new Uint32Array(1))[0] || 1;
  }

  /**
   * Opens `url` (`ws://host:port/path?query`). Text frames starting with `prefix` are handed to
   * `handlers.message` as bytes; an empty prefix makes every text frame a message.
   */
  static async connect(
    url: string,
    prefix: Uint8Array,
    handlers: WireHandlers,
  ): Promise<WireSocket> {
    const target = new URL(url);
    const ws = new WireSocket(prefix, handlers);
    const host = target.hostname.replace(/^\[|\]$/g, "");
    const port = Number(target.port || 80);
    ws.#socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => ws.#receive(chunk),
        drain: () => ws.#flush(),
        close: () => ws.#ended(1006, "connection closed"),
        error: (_s, err) => ws.#ended(1006, String(err)),
      },
    });
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    ws.#write(
      encoder.encode(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    return ws;
  }

  /** Sends text frames, all in one write. */
  send(...texts: string[]): void {
    if (texts.length === 1) {
      this.#frame(OP_TEXT, encoder.encode(texts[0] as string));
      return;
    }
    const frames = texts.map((t) => this.#build(OP_TEXT, encoder.encode(t)));
    const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      out.set(f, at);
      at += f.length;
    }
    this.#write(out);
  }

  /**
   * Sends a close frame after whatever is still queued, then ends the connection once all of it
   * is written. `handlers.close` follows with the server's answer (or 1006).
   */
  close(code: number): void {
    if (this.#closed || this.#closing) return;
    this.#frame(OP_CLOSE, new Uint8Array([code >> 8, code & 0xff]));
    this.#closing = true;
    if (this.#unsent.length === 0) this.#socket?.end();
  }

  get open(): boolean {
    return this.#upgraded && !this.#closed && !this.#closing;
  }

  #ended(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    if (this.#unsent.length === 0) this.#socket?.end();
    this.handlers.close(code, reason);
  }

  /** Writes a client frame. */
  #frame(opcode: number, payload: Uint8Array): void {
    if (!this.#closed && !this.#closing) this.#write(this.#build(opcode, payload));
  }

  /** A client frame: masked, as the protocol requires of clients. */
  #build(opcode: number, payload: Uint8Array): Uint8Array {
    const n = payload.length;
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const out = new Uint8Array(head + 4 + n);
    out[0] = 0x80 | opcode;
    if (n < 126) out[1] = 0x80 | n;
    else if (n < 65536) {
      out[1] = 0x80 | 126;
      out[2] = n >> 8;
      out[3] = n & 0xff;
    } else {
      out[1] = 0x80 | 127;
      new DataView(out.buffer).setBigUint64(2, BigInt(n));
    }
    // A new key for every frame, as the protocol asks of clients.
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    const mask = new Uint8Array(4);
    new DataView(mask.buffer).setUint32(0, this.#seed);
    out.set(mask, head);
    const body = head + 4;
    for (let i = 0; i < n; i++) out[body + i] = (payload[i] as number) ^ (mask[i & 3] as number);
    return out;
  }

  #write(bytes: Uint8Array): void {
    if (this.#unsent.length > 0) {
      this.#unsent.push(bytes);
      return;
    }
    const wrote = this.#socket?.write(bytes) ?? 0;
    if (wrote < bytes.length) this.#unsent.push(bytes.subarray(Math.max(0, wrote)));
  }

  #flush(): void {
    while (this.#unsent.length > 0) {
      const next = this.#unsent[0] as Uint8Array;
      const wrote = this.#socket?.write(next) ?? 0;
      if (wrote < next.length) {
        this.#unsent[0] = next.subarray(Math.max(0, wrote));
        return;
      }
      this.#unsent.shift();
    }
    if (this.#closing) this.#socket?.end();
  }

  #receive(chunk: Uint8Array): void {
    wireStats.reads += 1;
    let bytes = chunk;
    if (this.#pending.length > 0) {
      bytes = new Uint8Array(this.#pending.length + chunk.length);
      bytes.set(this.#pending);
      bytes.set(chunk, this.#pending.length);
    }
    let at = 0;
    if (!this.#upgraded) {
      const end = indexOf(bytes, HEADER_END, 0);
      if (end < 0) {
        this.#pending = bytes.slice();
        return;
      }
      const head = decoder.decode(bytes.subarray(0, end));
      const status = head.slice(0, head.indexOf("\r\n"));
      if (!/^HTTP\/1\.1 101 /.test(status)) {
        this.#ended(1006, `upgrade refused: ${status}`);
        return;
      }
      this.#upgraded = true;
      at = end + HEADER_END.length;
      this.handlers.open();
    }
    at = this.#frames(bytes, at);
    // Whatever is left is the start of a frame; the chunk may be reused once this returns.
    this.#pending = at < bytes.length ? bytes.slice(at) : new Uint8Array(0);
  }

  /** Handles every whole frame in `bytes` from `at`; returns where the first partial one starts. */
  #frames(bytes: Uint8Array, start: number): number {
    let at = start;
    const total = bytes.length;
    while (!this.#closed && total - at >= 2) {
      const b0 = bytes[at] as number;
      const b1 = bytes[at + 1] as number;
      let len = b1 & 0x7f;
      let body = at + 2;
      if (len === 126) {
        if (total - at < 4) break;
        len = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
        body = at + 4;
      } else if (len === 127) {
        if (total - at < 10) break;
        len = Number(new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8).getBigUint64(0));
        body = at + 10;
      }
      // Servers must not mask; a frame that is masked anyway is unmasked in place.
      const masked = (b1 & 0x80) !== 0;
      if (masked) body += 4;
      const end = body + len;
      if (end > total) break;
      if (masked) {
        for (let i = body; i < end; i++) {
          bytes[i] = (bytes[i] as number) ^ (bytes[body - 4 + ((i - body) & 3)] as number);
        }
      }
      this.#handle(b0 & 0x0f, bytes, body, end);
      at = end;
    }
    return at;
  }

  #handle(opcode: number, bytes: Uint8Array, start: number, end: number): void {
    switch (opcode) {
      case OP_TEXT:
        // A fragmented text frame is classified by its first fragment; a frame that is not a
        // delivery is decoded from that fragment alone (the servers measured send none).
        this.#text(bytes, start, end);
        return;
      case OP_BINARY:
      case OP_CONTINUATION:
        return;
      case OP_PING:
        this.#frame(OP_PONG, bytes.slice(start, end));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code =
          end - start >= 2 ? ((bytes[start] as number) << 8) | (bytes[start + 1] as number) : 1005;
        const reason = end - start > 2 ? decoder.decode(bytes.subarray(start + 2, end)) : "";
        if (!this.#closed) this.#frame(OP_CLOSE, bytes.slice(start, Math.min(end, start + 2)));
        this.#ended(code, reason);
        return;
      }
    }
  }

  #text(bytes: Uint8Array, start: number, end: number): void {
    const prefix = this.prefix;
    let matches = end - start >= prefix.length;
    for (let i = 0; matches && i < prefix.length; i++) {
      if (bytes[start + i] !== prefix[i]) matches = false;
    }
    if (matches) this.handlers.message(bytes, start, end);
    else this.handlers.text(decoder.decode(bytes.subarray(start, end)));
  }
}
