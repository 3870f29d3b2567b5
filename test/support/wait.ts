/**
 * Resolves once `check` returns true, polling every `everyMs`; for state that is observable
 * only by asking (an HTTP listing, a file), not by an event.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; everyMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${opts.what ?? "a condition"}`);
    await Bun.sleep(opts.everyMs ?? 50);
  }
}
