/**
 * The demo page in a real browser (Debian's chromium driven by playwright-core): two people
 * chat in a room and by direct message, the node restarts, and both pages reconnect and show
 * what was sent meanwhile, once each.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { type NodeProcess, spawnNode } from "../support/node.ts";

const CHROMIUM = "/usr/bin/chromium";
/** Written on every run; not kept in git (src/demo/screenshot.png is a copy of one). */
const SCREENSHOT = join(import.meta.dir, "..", ".tmp", "demo.png");

let node: NodeProcess;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: install the Debian package "chromium" (apt-get install -y chromium)`,
    );
  }
  node = await spawnNode({ env: { EDGEPUSH_MODE: "development" } });
  profile = mkdtempSync(join(tmpdir(), "edgepush-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 720 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await node?.kill();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function signIn(name: string): Promise<Page> {
  const page = await browser.newPage();
  page.on("pageerror", (err) => console.error(`[${name} page error] ${err.message}`));
  await page.goto(`${node.http}/`);
  await page.getByTestId("name").fill(name);
  await page.getByTestId("signin").click();
  await connected(page);
  return page;
}

/** Waits until the page's connection badge reads exactly "connected". */
function connected(page: Page): Promise<void> {
  return page
    .getByTestId("conn-state")
    .filter({ hasText: /^connected$/ })
    .waitFor();
}

/** Waits for one list item containing `text` in the list `testId`, then counts them. */
async function itemsWith(page: Page, testId: string, text: string): Promise<number> {
  const items = page.getByTestId(testId).locator("li", { hasText: text });
  await items.first().waitFor();
  return items.count();
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId("composer-input").fill(text);
  await page.getByTestId("send").click();
}

async function whisper(page: Page, to: string, text: string): Promise<void> {
  await page.getByTestId("dm-to").fill(to);
  await page.getByTestId("dm-text").fill(text);
  await page.getByTestId("dm-send").click();
}

test("two pages chat, survive a node restart, and show what was sent meanwhile once", async () => {
  const alice = await signIn("alice");
  const bob = await signIn("bob");
  await alice.getByTestId("presence").locator("li", { hasText: "bob" }).waitFor();

  await say(alice, "hello from alice");
  expect(await itemsWith(bob, "messages", "hello from alice")).toBe(1);
  await whisper(alice, "bob", "psst, bob");
  expect(await itemsWith(bob, "inbox", "psst, bob")).toBe(1);

  const stopped = node.stop("SIGTERM");
  for (const page of [alice, bob]) {
    await page.getByTestId("conn-state").filter({ hasText: "reconnecting" }).waitFor();
  }
  await say(alice, "typed while the node was down");
  await stopped;
  node = await spawnNode(node.again());
  await node.api("/v1/publish", {
    body: { room: "lobby", data: { text: "from the API meanwhile" } },
  });
  await node.api("/v1/send", { body: { to: "bob", data: { text: "a DM meanwhile" } } });

  await Promise.all([connected(alice), connected(bob)]);
  for (const page of [alice, bob]) {
    expect(await itemsWith(page, "messages", "typed while the node was down")).toBe(1);
    expect(await itemsWith(page, "messages", "from the API meanwhile")).toBe(1);
    expect(await itemsWith(page, "messages", "hello from alice")).toBe(1);
  }
  expect(await itemsWith(bob, "inbox", "a DM meanwhile")).toBe(1);
  expect(await itemsWith(bob, "inbox", "psst, bob")).toBe(1);
  expect(await itemsWith(bob, "events", "reconnecting (close 1012)")).toBeGreaterThan(0);
  expect(await itemsWith(bob, "events", "lobby: resumed")).toBeGreaterThan(0);

  await bob.screenshot({ path: SCREENSHOT });
  expect(existsSync(SCREENSHOT)).toBe(true);
});
