import { CloseCode, closeReason, type ErrorCode } from "../protocol/codes.ts";
import type { Socket } from "./connection.ts";
import type { Metrics } from "./metrics.ts";

/** Sends one frame to one connection. */
export function sendFrame(ws: Socket, metrics: Metrics, frame: object): void {
  if (ws.data.state === "closed") return;
  metrics.framesOut++;
  if (ws.send(JSON.stringify(frame)) === 0) closeSocket(ws, metrics, CloseCode.slowConsumer);
}

/** Sends an `error` frame answering the frame with `id`. */
export function sendError(
  ws: Socket,
  metrics: Metrics,
  id: number | undefined,
  code: ErrorCode,
  message: string,
): void {
  metrics.error(code);
  sendFrame(
    ws,
    metrics,
    id === undefined ? { type: "error", code, message } : { type: "error", id, code, message },
  );
}

/** Closes a connection with a protocol close code and its reason. */
export function closeSocket(ws: Socket, metrics: Metrics, code: CloseCode, reason?: string): void {
  if (ws.data.state === "closed") return;
  ws.data.state = "closed";
  metrics.close(code);
  ws.close(code, reason ?? closeReason[code]);
}
