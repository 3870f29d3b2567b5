import page from "./page.html" with { type: "text" };

/**
 * The demo page served at `/`: sign in with a development token, chat in rooms, see who is
 * online, send direct messages, and watch the connection state, reconnects and recovery. It
 * loads the client SDK from `/client.js` (see `clientBundle` in `src/client/bundle.ts`).
 */
export function demoPage(): string {
  // Bun types every `.html` import as an HTMLBundle; a `text` import is the file's text.
  return page as unknown as string;
}
