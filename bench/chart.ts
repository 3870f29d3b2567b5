/**
 * Draws bench/results/chart.svg from the last fan-out and idle-memory results: one bar panel
 * for delivered messages per second, one for memory per idle connection.
 *
 * usage: bun bench/chart.ts
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

interface Result {
  machine: { date: string; commit: string; cpu: string; cores: number };
  settings: Record<string, unknown>;
  rows: Record<string, string | number>[];
}

interface Bar {
  label: string;
  value: number;
}

const RESULTS = resolve(import.meta.dir, "results");
const WIDTH = 720;
const BAR_HEIGHT = 26;
const LABEL_WIDTH = 130;
const COLOURS: Record<string, string> = {
  edgepush: "#2563eb",
  bare: "#6b7280",
  "socketio-node": "#d97706",
  "socketio-bun": "#b45309",
  "bare-sized": "#9ca3af",
};

function load(name: string): Result | undefined {
  const file = resolve(RESULTS, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Result) : undefined;
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Best value of `key` per server, in the order the servers first appear. */
function bars(result: Result, key: string, pick: (a: number, b: number) => number): Bar[] {
  const best = new Map<string, number>();
  for (const row of result.rows) {
    const label = String(row.server);
    const value = Number(row[key]);
    const known = best.get(label);
    best.set(label, known === undefined ? value : pick(known, value));
  }
  return [...best].map(([label, value]) => ({ label, value }));
}

function panel(title: string, note: string, data: Bar[], unit: string, top: number): string {
  const max = Math.max(...data.map((b) => b.value), 1);
  const span = WIDTH - LABEL_WIDTH - 140;
  const parts = [
    `<text x="16" y="${top + 18}" class="title">${xml(title)}</text>`,
    `<text x="16" y="${top + 36}" class="note">${xml(note)}</text>`,
  ];
  data.forEach((bar, i) => {
    const y = top + 50 + i * (BAR_HEIGHT + 8);
    const w = Math.max(1, (bar.value / max) * span);
    const colour = COLOURS[bar.label] ?? "#374151";
    const shown =
      bar.value >= 100 ? Math.round(bar.value).toLocaleString("en") : bar.value.toFixed(2);
    parts.push(
      `<text x="${LABEL_WIDTH - 8}" y="${y + 18}" class="label" text-anchor="end">${xml(bar.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colour}" rx="3"/>`,
      `<text x="${LABEL_WIDTH + w + 8}" y="${y + 18}" class="value">${shown} ${xml(unit)}</text>`,
    );
  });
  return parts.join("\n");
}

function panelHeight(data: Bar[]): number {
  return 60 + data.length * (BAR_HEIGHT + 8);
}

const fanout = load("fanout");
const idle = load("idle-memory");
if (!fanout && !idle)
  throw new Error("no results: run bench/fanout.ts and bench/idle-memory.ts first");

const panels: string[] = [];
let top = 10;
if (fanout) {
  const data = bars(fanout, "deliveredPerSec", Math.max);
  const s = fanout.settings;
  const note = `${s.subscribers} subscribers, ${s.payloadBytes}-byte payload, one room (higher is better)`;
  panels.push(panel("Fan-out: messages delivered per second", note, data, "msg/s", top));
  top += panelHeight(data) + 10;
}
if (idle) {
  const data = bars(idle, "kibPerConnection", Math.min);
  const note = `${idle.settings.connections} idle connections, server RSS growth (lower is better)`;
  panels.push(panel("Memory per idle connection", note, data, "KiB", top));
  top += panelHeight(data) + 10;
}
const m = (fanout ?? idle)?.machine;
const footer = m ? `${m.date.slice(0, 10)}, commit ${m.commit}, ${m.cores} cores, ${m.cpu}` : "";

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top + 24}" viewBox="0 0 ${WIDTH} ${top + 24}">
<style>
text { font-family: system-ui, sans-serif; fill: #111827; }
.title { font-size: 15px; font-weight: 600; }
.note, .footer { font-size: 11px; fill: #4b5563; }
.label, .value { font-size: 12px; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
${panels.join("\n")}
<text x="16" y="${top + 12}" class="footer">${xml(footer)}</text>
</svg>
`;
const out = resolve(RESULTS, "chart.svg");
writeFileSync(out, svg);
process.stdout.write(`written ${out}\n`);
