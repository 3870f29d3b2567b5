/**
 * How the benchmark clients speak to each server, by hand over a raw WebSocket, so that every
 * server is driven by the same client code and the client's cost is the same for all of them.
 * Each framing turns the server's frames into a few outcomes: ready, a delivered message, a
 * frame to answer, or something to ignore.
 */

/** The servers the load runs compare. */
export type FramingName = "edgepush" | "bare" | "socketio";

/** What a connection does with one received text frame. */
export type Outcome =
  | { kind: "message" }
  | { kind: "ready" }
  | { kind: "reply"; text: string; ready?: boolean }
  | { kind: "error"; text: string }
  | { kind: "other" };

/** One server's framing. `room` empty means an idle connection that joins nothing. */
export interface Framing {
  /** The WebSocket URL of one connection; `base` is `ws://host:port`. */
  url(base: string, token: string): string;
  /** A frame to send when the socket opens, if the framing starts the handshake. */
  onOpen(room: string): { text?: string; ready: boolean };
  /**
   * How every message frame (a delivery) starts. The clients count a frame with this prefix
   * without decoding it; only the others reach `onFrame`.
   */
  messagePrefix: string;
  /** Classifies a received frame, answering handshakes and pings. */
  onFrame(text: string, room: string): Outcome;
  /** The frame that publishes `data` (a JSON-safe string) to `room`; `id` counts from 1. */
  publish(room: string, data: string, id: number): string;
}

const MESSAGE = { kind: "message" } as const;
const OTHER = { kind: "other" } as const;
const READY = { kind: "ready" } as const;

const edgepush: Framing = {
  url: (base, token) => `${base}/v1/ws?token=${token}`,
  onOpen: () => ({ ready: false }),
  messagePrefix: '{"type":"message"',
  onFrame(text, room) {
    if (text.startsWith('{"type":"message"')) return MESSAGE;
    if (text === '{"type":"ping"}') return { kind: "reply", text: '{"type":"pong"}' };
    if (text.startsWith('{"type":"connected"')) {
      if (!room) return READY;
      return { kind: "reply", text: JSON.stringify({ type: "subscribe", id: 1, room }) };
    }
    if (text.startsWith('{"type":"subscribed"')) return READY;
    if (text.startsWith('{"type":"error"')) return { kind: "error", text };
    return OTHER;
  },
  publish: (room, data, id) =>
    `{"type":"publish","id":${(id % 2_000_000_000) + 1},"room":"${room}","data":"${data}"}`,
};

const bare: Framing = {
  url: (base) => `${base}/ws`,
  onOpen: () => ({ ready: true }),
  messagePrefix: "",
  onFrame: () => MESSAGE,
  publish: (_room, data) => data,
};

const socketio: Framing = {
  url: (base) => `${base}/socket.io/?EIO=4&transport=websocket`,
  onOpen: () => ({ ready: false }),
  messagePrefix: "42[",
  onFrame(text, room) {
    if (text.startsWith("42[")) return MESSAGE;
    if (text === "2") return { kind: "reply", text: "3" };
    if (text.startsWith("0{")) return { kind: "reply", text: "40" };
    if (text.startsWith("40")) {
      if (!room) return READY;
      return { kind: "reply", text: `420${JSON.stringify(["join", room])}` };
    }
    if (text.startsWith("430")) return READY;
    if (text.startsWith("44")) return { kind: "error", text };
    return OTHER;
  },
  publish: (room, data) => `42${JSON.stringify(["publish", room, data])}`,
};

/** The framing of a server by name. */
export const framings: Record<FramingName, Framing> = { edgepush, bare, socketio };

/** Marks the send time inside a payload: `~<ms since the epoch, fractional>|`. */
export const STAMP = "~";

/** Builds a payload of exactly `size` characters carrying the send time. */
export function payload(size: number, sentAt: number): string {
  const head = `${STAMP}${sentAt.toFixed(3)}|`;
  return head.length >= size ? head : head + "x".repeat(size - head.length);
}

/** Reads the send time out of a delivered frame, or NaN when it carries none. */
export function stampOf(text: string): number {
  const start = text.indexOf(STAMP);
  if (start < 0) return Number.NaN;
  const end = text.indexOf("|", start);
  return Number(text.slice(start + 1, end));
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
