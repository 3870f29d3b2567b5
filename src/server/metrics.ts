/** A gauge read when /metrics is scraped. */
type Gauge = () => number;

interface Family {
  help: string;
  type: "counter" | "gauge";
  values: Map<string, number>;
}

/**
 * Counters and gauges in Prometheus text format. Counters are plain numbers bumped on the
 * hot path; gauges are functions read at scrape time.
 */
export class Metrics {
  framesIn = 0;
  framesOut = 0;
  publishes = 0;
  readonly errors = new Map<string, number>();
  readonly closes = new Map<number, number>();
  readonly #gauges: [string, string, Gauge][] = [];
  readonly #counters: [string, string, Gauge][] = [];

  /** Counts an error frame or HTTP error by its code. */
  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Counts a closed connection by its close code. */
  close(code: number): void {
    this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
  }

  /** Registers a gauge read at scrape time. */
  gauge(name: string, help: string, read: Gauge): void {
    this.#gauges.push([name, help, read]);
  }

  /** Registers a counter kept elsewhere (e.g. by the history store), read at scrape time. */
  counter(name: string, help: string, read: Gauge): void {
    this.#counters.push([name, help, read]);
  }

  /** Renders every metric in Prometheus text exposition format. */
  render(): string {
    const families: [string, Family][] = [
      ["edgepush_frames_in_total", counter("Client frames received.", this.framesIn)],
      ["edgepush_frames_out_total", counter("Frames sent to clients.", this.framesOut)],
      ["edgepush_publishes_total", counter("Messages published on this node.", this.publishes)],
      ["edgepush_errors_total", labelled("counter", "Error replies by code.", "code", this.errors)],
      [
        "edgepush_closes_total",
        labelled("counter", "Closed connections by code.", "code", this.closes),
      ],
    ];
    for (const [name, help, read] of this.#gauges) {
      families.push([name, { help, type: "gauge", values: new Map([["", read()]]) }]);
    }
    for (const [name, help, read] of this.#counters) {
      families.push([name, { help, type: "counter", values: new Map([["", read()]]) }]);
    }
    const lines: string[] = [];
    for (const [name, f] of families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const [labels, v] of f.values) lines.push(`${name}${labels} ${v}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

function counter(help: string, value: number): Family {
  return { help, type: "counter", values: new Map([["", value]]) };
}

function labelled<K>(type: Family["type"], help: string, label: string, m: Map<K, number>): Family {
  const values = new Map<string, number>();
  for (const [k, v] of m) values.set(`{${label}="${String(k).replace(/["\\\n]/g, "_")}"}`, v);
  return { help, type, values };
}
