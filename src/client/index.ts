/**
 * The edgepush client SDK, for browsers, Bun and Node.
 *
 * @example
 * import { EdgepushClient } from "edgepush/client";
 * const client = new EdgepushClient({ url: "wss://push.example.com/v1/ws", getToken });
 * client.subscribe("chat:lobby").on("message", (m) => console.log(m.data));
 * await client.connect();
 */
export { CloseCode, EdgepushError, ErrorCode } from "../protocol/codes.ts";
export { backoffDelay, closeAction, reconnectDelay } from "./backoff.ts";
export { type ClientEvents, EdgepushClient } from "./client.ts";
export { Subscription, type SubscriptionEvents } from "./subscription.ts";
export { tokenExpiry } from "./token.ts";
export type {
  Ack,
  BackoffOptions,
  ClientOptions,
  ConnectedInfo,
  ConnectionState,
  HistoryPage,
  HistoryQuery,
  Message,
  Position,
  PresenceChange,
  RecoveryInfo,
  StateChange,
  SubscribeOptions,
  SubscriptionState,
  WebSocketConstructor,
  WebSocketLike,
} from "./types.ts";
