/**
 * Frame shapes of protocol version 1. Client frames are what a connection may send;
 * server frames are what edgepush sends back. Every frame is one JSON text frame.
 */

/** A position in a room's sequence: the latest offset and the generation it belongs to. */
export interface Position {
  offset: number;
  epoch: string;
}

/** One message in a room, as stored in history and carried by a `message` frame. */
export interface Message {
  room: string;
  offset: number;
  epoch: string;
  /** The publishing user; absent for server API publishes. */
  from?: string;
  data: unknown;
  /** Milliseconds since the Unix epoch when the offset was assigned. */
  ts: number;
}

export interface ConnectFrame {
  type: "connect";
  id?: number;
  /** Required unless the server accepts anonymous connections. */
  token?: string;
  inbox?: Position;
}
export interface SubscribeFrame {
  type: "subscribe";
  id?: number;
  room: string;
  since?: Position;
  presence?: boolean;
}
export interface UnsubscribeFrame {
  type: "unsubscribe";
  id?: number;
  room: string;
}
export interface PublishFrame {
  type: "publish";
  id?: number;
  room: string;
  data: unknown;
}
export interface SendFrame {
  type: "send";
  id?: number;
  to: string;
  data: unknown;
}
export interface PresenceFrame {
  type: "presence";
  id?: number;
  room: string;
}
export interface HistoryFrame {
  type: "history";
  id?: number;
  room: string;
  since?: number;
  before?: number;
  limit?: number;
}
export interface RefreshFrame {
  type: "refresh";
  id?: number;
  token: string;
}
export interface PingFrame {
  type: "ping";
  id?: number;
}
export interface PongFrame {
  type: "pong";
  id?: number;
}

export type ClientFrame =
  | ConnectFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | PublishFrame
  | SendFrame
  | PresenceFrame
  | HistoryFrame
  | RefreshFrame
  | PingFrame
  | PongFrame;

export type ClientFrameType = ClientFrame["type"];

/** The `message` frame: a message plus its type tag. */
export type MessageFrame = { type: "message" } & Message;

export interface ConnectedFrame {
  type: "connected";
  id?: number;
  client: string;
  user: string;
  node: string;
  region: string;
  ping: number;
  inbox: Position;
  recovered?: boolean;
}

export interface ErrorFrame {
  type: "error";
  id?: number;
  code: string;
  message: string;
}
