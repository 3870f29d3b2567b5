/**
 * The harness side of the benchmark clients: starts client processes (bench/lib/client.ts),
 * sends each the same command and gathers their answers.
 */
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { track } from "./children.ts";
import type { Command, WorkerConfig } from "./client.ts";

const CLIENT = resolve(import.meta.dir, "client.ts");

/** One client process and its command channel. */
export class Worker {
  readonly #proc: Subprocess<"pipe", "pipe", "inherit">;
  readonly #waiting: ((line: string) => void)[] = [];

  private constructor(proc: Subprocess<"pipe", "pipe", "inherit">) {
    this.#proc = proc;
    this.#pump();
  }

  /** Starts a client process and waits until it listens for commands. */
  static async start(config: WorkerConfig): Promise<Worker> {
    const proc = track(
      Bun.spawn([process.execPath, CLIENT, JSON.stringify(config)], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "inherit",
      }),
    );
    const worker = new Worker(proc);
    await worker.#next();
    return worker;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  /** Sends one command and resolves with the client's answer. */
  async send<T = Record<string, unknown>>(command: Command): Promise<T> {
    const answer = this.#next();
    this.#proc.stdin.write(`${JSON.stringify(command)}\n`);
    this.#proc.stdin.flush();
    const value = JSON.parse(await answer) as T & { error?: string };
    if (value.error) throw new Error(`client ${this.pid}: ${value.error}`);
    return value;
  }

  /** Closes the client's sockets and waits for the process to end. */
  async stop(): Promise<void> {
    if (this.#proc.exitCode !== null) return;
    await this.send({ cmd: "close" }).catch(() => undefined);
    const timer = setTimeout(() => this.#proc.kill("SIGKILL"), 10_000);
    await this.#proc.exited;
    clearTimeout(timer);
  }

  #next(): Promise<string> {
    return new Promise((resolveLine, reject) => {
      this.#waiting.push(resolveLine);
      this.#proc.exited.then((code) => reject(new Error(`client exited with ${code}`)));
    });
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    const reader = this.#proc.stdout.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let i = buffered.indexOf("\n");
      while (i >= 0) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        i = buffered.indexOf("\n");
        this.#waiting.shift()?.(line);
      }
    }
  }
}

/** Several client processes driven together. */
export class Fleet {
  private constructor(readonly workers: Worker[]) {}

  /** Starts `processes` clients sharing `total` connections as evenly as possible. */
  static async start(
    processes: number,
    total: number,
    config: (index: number, connections: number) => WorkerConfig,
  ): Promise<Fleet> {
    const counts = Array.from(
      { length: processes },
      (_, i) => Math.floor(total / processes) + (i < total % processes ? 1 : 0),
    );
    const workers = await Promise.all(counts.map((n, i) => Worker.start(config(i, n))));
    return new Fleet(workers);
  }

  /** Sends a command to every client at once and returns their answers in order. */
  all<T = Record<string, unknown>>(command: Command): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.send<T>(command)));
  }

  /** Opens every client's connections; throws when any failed. */
  async open(): Promise<number> {
    const answers = await this.all<{ opened: number; failed: number; firstFailure: string }>({
      cmd: "open",
    });
    const failed = answers.reduce((n, a) => n + a.failed, 0);
    if (failed > 0) {
      const first = answers.find((a) => a.failed > 0)?.firstFailure;
      throw new Error(`${failed} connections failed to open; first: ${first}`);
    }
    return answers.reduce((n, a) => n + a.opened, 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
