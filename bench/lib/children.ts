/**
 * Every process a benchmark starts, so that a watchdog or Ctrl-C can end them all before the
 * benchmark itself exits.
 */
import type { Subprocess } from "bun";

const running = new Set<Subprocess>();

/** Records a started process until it exits. */
export function track<T extends Subprocess>(proc: T): T {
  running.add(proc);
  proc.exited.then(() => running.delete(proc));
  return proc;
}

/** Kills every tracked process that is still running. */
export function killChildren(): void {
  for (const proc of running) proc.kill("SIGKILL");
}

/** Ends the benchmark after `seconds` (killing its processes), and on SIGINT or SIGTERM. */
export function watchdog(seconds: number, name: string): () => void {
  const stop = (why: string) => {
    process.stderr.write(`${name}: ${why}; stopping its processes\n`);
    killChildren();
    process.exit(2);
  };
  const timer = setTimeout(() => stop(`not done after ${seconds} s`), seconds * 1000);
  const onSignal = () => stop("interrupted");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    clearTimeout(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
