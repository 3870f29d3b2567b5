import { SignJWT } from "jose";
import { TEST_SECRET } from "./node.ts";

// biome-ignore lint/suspicious/noExplicitAny: frames are arbitrary JSON read by tests
export type Frame = Record<string, any>;

/** Signs a client token with the test secret. `exp` defaults to one hour from now. */
export async function tokenFor(
  sub: string,
  opts: {
    ttlSeconds?: number;
    rooms?: string[];
    claims?: Record<string, unknown>;
    secret?: string;
  } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...(opts.rooms ? { rooms: opts.rooms } : {}), ...opts.claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 3600));
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_SECRET));
}

/**
 * A raw protocol client over a real WebSocket: every frame it receives is kept in order, and
 * tests read them with `next`, which consumes frames one after another.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #read = 0;
  #nextId = 1000;
  #waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        resolve({ code: e.code, reason: e.reason });
        this.#wake();
      });
    });
    socket.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(String(e.data)));
      this.#wake();
    });
  }

  /** Opens a socket to `url` and resolves once it is open. */
  static async open(url: string): Promise<TestClient> {
    const socket = new WebSocket(url);
    const client = new TestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), {
        once: true,
      });
    });
    return client;
  }

  /** Opens a socket with `?token=` for `user` and resolves after `connected`. */
  static async connect(wsUrl: string, user: string, token?: string): Promise<TestClient> {
    const t = token ?? (await tokenFor(user));
    const client = await TestClient.open(`${wsUrl}?token=${encodeURIComponent(t)}`);
    const first = await client.next();
    if (first.type !== "connected") {
      client.close();
      throw new Error(`first frame is not connected: ${JSON.stringify(first)}`);
    }
    return client;
  }

  /** Sends a frame (an object is JSON-encoded, a string is sent as is). */
  send(frame: Frame | string | Uint8Array): void {
    this.socket.send(
      typeof frame === "string" || frame instanceof Uint8Array ? frame : JSON.stringify(frame),
    );
  }

  /** Sends a frame with a fresh id and resolves with the reply carrying that id. */
  async request(frame: Frame, timeoutMs = 10_000): Promise<Frame> {
    const id = this.#nextId++;
    this.send({ ...frame, id });
    return this.reply(id, timeoutMs);
  }

  /** Resolves with the reply carrying `id`, without consuming the frames `next` reads. */
  async reply(id: number, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    let scanned = 0;
    for (;;) {
      for (; scanned < this.frames.length; scanned++) {
        const f = this.frames[scanned] as Frame;
        if (f.id === id && f.type !== "message") return f;
      }
      const left = deadline - Date.now();
      if (this.socket.readyState === WebSocket.CLOSED || left <= 0) {
        throw new Error(`no reply to id ${id}; last: ${JSON.stringify(this.frames.slice(-5))}`);
      }
      await this.#wait(left);
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Resolves with the next unread frame matching `pred` (any frame by default). Frames are
   * read in order, and those that `pred` passes over are consumed; `all` still sees them.
   */
  async next(pred: (f: Frame) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#read < this.frames.length) {
        const f = this.frames[this.#read++] as Frame;
        if (pred(f)) return f;
      }
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error(
          `socket closed while waiting; frames: ${JSON.stringify(this.frames.slice(-5))}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no matching frame within ${timeoutMs} ms; last: ${JSON.stringify(this.frames.slice(-5))}`,
        );
      }
      await this.#wait(left);
    }
  }

  /** Collects the next `count` frames matching `pred`. */
  async take(count: number, pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < count) out.push(await this.next(pred, timeoutMs));
    return out;
  }

  /** Every frame received so far that matches `pred`, read or not. */
  all(pred: (f: Frame) => boolean): Frame[] {
    return this.frames.filter(pred);
  }

  close(code = 1000): void {
    this.socket.close(code);
  }

  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }
}
