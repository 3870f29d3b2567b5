import { RedisClient, type Server } from "bun";

/**
 * An HTTP gateway speaking Upstash's REST protocol in front of a real redis-server, for the
 * `upstash` broker's tests: `POST /` runs one command (a JSON array), `/pipeline` a list of
 * them, `/multi-exec` a list as one transaction, and `/subscribe/<channel>` answers with an
 * event stream of the channel's messages. Every request needs `Authorization: Bearer <token>`;
 * `Upstash-Encoding: base64` asks for strings in results as base64.
 */
export interface UpstashGateway {
  url: string;
  token: string;
  /** Stops listening and ends open event streams (the network to Upstash is gone). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): void;
  /** Ends the `index`-th open event stream, oldest first, as a broken stream would end. */
  endStream(index: number): void;
  /** Keeps the `index`-th stream open but sends nothing more on it: a silent stall. */
  muteStream(index: number): void;
}

type Json = null | number | string | Json[];

function encodeResult(value: unknown, base64: boolean): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map((v) => encodeResult(v, base64));
  if (typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [
      encodeResult(k, base64),
      encodeResult(v, base64),
    ]);
  }
  const text = String(value);
  return base64 ? Buffer.from(text, "utf8").toString("base64") : text;
}

function asArgs(command: unknown): [string, string[]] {
  if (!Array.isArray(command) || command.length === 0)
    throw new Error("ERR command must be a non-empty array");
  const parts = command.map((p) => (typeof p === "string" ? p : JSON.stringify(p)));
  return [parts[0] as string, parts.slice(1)];
}

function errorText(err: unknown): string {
  return String((err as Error)?.message ?? err);
}

/** 400 for an error reply from Redis, 503 when Redis could not be reached. */
function errorStatus(err: unknown): number {
  return (err as { code?: string })?.code === "ERR_REDIS_SERVER_ERROR" ? 400 : 503;
}

/**
 * Starts the gateway on a free loopback port in front of `redisUrl`.
 *
 * @example
 * const gateway = startUpstashGateway(redis.url);
 * // config.broker.upstashUrl = gateway.url, upstashToken = gateway.token
 */
export function startUpstashGateway(
  redisUrl: string,
  token = "test-upstash-token",
): UpstashGateway {
  let shared: Promise<RedisClient> | undefined;
  /** Open event streams, oldest first. */
  const streams = new Set<{ end(): void; muted: boolean }>();

  /** One shared connection for commands, opened again after Redis went away. */
  const connected = (): Promise<RedisClient> => {
    if (shared) return shared;
    const client = new RedisClient(redisUrl, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: 1000,
    });
    const opening = client.connect().then(() => client);
    const forget = () => {
      if (shared === opening) shared = undefined;
    };
    client.onclose = forget;
    opening.catch(forget);
    shared = opening;
    return opening;
  };

  const run = async (client: RedisClient, command: unknown, base64: boolean) => {
    const [name, args] = asArgs(command);
    return encodeResult(await client.send(name, args), base64);
  };

  const one = async (command: unknown, base64: boolean): Promise<Response> => {
    try {
      return Response.json({ result: await run(await connected(), command, base64) });
    } catch (err) {
      return Response.json({ error: errorText(err) }, { status: errorStatus(err) });
    }
  };

  const many = async (
    commands: unknown,
    base64: boolean,
    transaction: boolean,
  ): Promise<Response> => {
    if (!Array.isArray(commands))
      return Response.json({ error: "ERR body must be an array" }, { status: 400 });
    let client: RedisClient | undefined;
    try {
      client = transaction
        ? new RedisClient(redisUrl, { connectionTimeout: 1000 })
        : await connected();
      if (transaction) await client.send("MULTI", []);
      const out: ({ result: Json } | { error: string })[] = [];
      for (const command of commands) {
        try {
          const result = await run(client, command, base64);
          out.push({ result });
        } catch (err) {
          out.push({ error: errorText(err) });
        }
      }
      if (!transaction) return Response.json(out);
      const results = (await client.send("EXEC", [])) as unknown[];
      return Response.json(results.map((r) => ({ result: encodeResult(r, base64) })));
    } catch (err) {
      return Response.json({ error: errorText(err) }, { status: errorStatus(err) });
    } finally {
      if (transaction) client?.close();
    }
  };

  const subscribe = async (channel: string, req: Request): Promise<Response> => {
    const sub = new RedisClient(redisUrl, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: 1000,
    });
    const encoder = new TextEncoder();
    let end: () => void = () => {};
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        let open = true;
        const stream = {
          muted: false,
          end: () => {
            if (!open) return;
            open = false;
            streams.delete(stream);
            sub.close();
            controller.close();
          },
        };
        end = stream.end;
        streams.add(stream);
        const send = (line: string) => {
          if (open && !stream.muted) controller.enqueue(encoder.encode(`data: ${line}\n\n`));
        };
        sub.onclose = () => end();
        req.signal.addEventListener("abort", () => end());
        try {
          await sub.connect();
          const count = await sub.subscribe(channel, (message) =>
            send(`message,${channel},${message}`),
          );
          send(`subscribe,${channel},${count}`);
        } catch {
          end();
        }
      },
      cancel() {
        end();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  };

  const handle = async (req: Request, server: Server<undefined>): Promise<Response> => {
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return Response.json({ error: "Unauthorized" }, { status: 401 });
    }
    const path = new URL(req.url).pathname;
    const base64 = req.headers.get("upstash-encoding")?.toLowerCase() === "base64";
    if (path.startsWith("/subscribe/")) {
      server.timeout(req, 0);
      return subscribe(decodeURIComponent(path.slice("/subscribe/".length)), req);
    }
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return Response.json({ error: "ERR body is not JSON" }, { status: 400 });
    }
    if (path === "/") return one(body, base64);
    if (path === "/pipeline") return many(body, base64, false);
    if (path === "/multi-exec") return many(body, base64, true);
    return Response.json({ error: `ERR unknown endpoint ${path}` }, { status: 404 });
  };

  const listen = (port: number) =>
    Bun.serve({
      hostname: "127.0.0.1",
      port,
      idleTimeout: 0,
      fetch: (req, srv) => handle(req, srv),
    });
  let server: Server<undefined> | undefined = listen(0);
  const port = server.port as number;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    async stop() {
      for (const stream of [...streams]) stream.end();
      await server?.stop(true);
      server = undefined;
      const closing = shared;
      shared = undefined;
      await closing?.then((c) => c.close()).catch(() => undefined);
    },
    start() {
      if (!server) server = listen(port);
    },
    endStream(index) {
      const stream = [...streams][index];
      if (!stream) throw new Error(`no open event stream ${index}`);
      stream.end();
    },
    muteStream(index) {
      const stream = [...streams][index];
      if (!stream) throw new Error(`no open event stream ${index}`);
      stream.muted = true;
    },
  };
}
