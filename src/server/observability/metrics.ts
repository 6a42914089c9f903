/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
 * text exposition format (version 0.0.4). Written here rather than taken from npm: the
 * format is a page long, and this is all of it the server needs.
 */

/** What GET /metrics answers with. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type MetricType = "counter" | "gauge" | "histogram";

/** Label values by label name; every declared label must be given. */
export type LabelValues<L extends string> = { readonly [K in L]: string };

/** HELP text: a backslash and a line feed are escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A label value: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the format spells it (+Inf, -Inf, NaN for the non-finite ones). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return "";
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

/** One metric family: its samples, keyed by the label values in declaration order. */
abstract class Family<L extends string, S> {
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    readonly type: MetricType,
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`Invalid metric name "${name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) throw new Error(`Invalid label name "${label}" on ${name}`);
    }
  }

  /** Forgets every series (a gauge read afresh at each scrape). */
  reset(): void {
    this.series.clear();
  }

  protected seriesFor(labels: LabelValues<L>, initial: () => S): S {
    const values = this.labelNames.map((label) => {
      const value = labels[label];
      if (typeof value !== "string") throw new Error(`Metric ${this.name} needs the label "${label}"`);
      return value;
    });
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { values, state: initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected pairs(values: readonly string[]): [string, string][] {
    return this.labelNames.map((label, index) => [label, values[index]!]);
  }

  /** The family's HELP, TYPE and sample lines. */
  render(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.sampleLines()];
  }

  protected abstract sampleLines(): string[];
}

export class Counter<L extends string = never> extends Family<L, { value: number }> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, labelNames, "counter");
  }

  inc(labels: LabelValues<L>, by = 1): void {
    if (!(by >= 0)) throw new Error(`Counter ${this.name} can only go up (got ${by})`);
    this.seriesFor(labels, () => ({ value: 0 })).value += by;
  }

  protected sampleLines(): string[] {
    return [...this.series.values()].map(({ values, state }) => `${this.name}${formatLabels(this.pairs(values))} ${formatValue(state.value)}`);
  }
}

export class Gauge<L extends string = never> extends Family<L, { value: number }> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, labelNames, "gauge");
  }

  set(labels: LabelValues<L>, value: number): void {
    this.seriesFor(labels, () => ({ value: 0 })).value = value;
  }

  inc(labels: LabelValues<L>, by = 1): void {
    this.seriesFor(labels, () => ({ value: 0 })).value += by;
  }

  protected sampleLines(): string[] {
    return [...this.series.values()].map(({ values, state }) => `${this.name}${formatLabels(this.pairs(values))} ${formatValue(state.value)}`);
  }
}

type HistogramState = { counts: number[]; sum: number; count: number };

export class Histogram<L extends string = never> extends Family<L, HistogramState> {
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]) {
    super(name, help, labelNames, "histogram");
    if ((labelNames as readonly string[]).includes("le")) throw new Error(`Histogram ${name} may not have a label "le"`);
    const sorted = [...new Set(buckets)].filter((bound) => Number.isFinite(bound)).sort((a, b) => a - b);
    if (sorted.length === 0) throw new Error(`Histogram ${name} needs at least one finite bucket`);
    this.buckets = sorted;
  }

  observe(labels: LabelValues<L>, value: number): void {
    if (Number.isNaN(value)) return;
    const state = this.seriesFor(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    // Counted in the first bucket that holds it; rendering makes them cumulative.
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) state.counts[index]! += 1;
    state.sum += value;
    state.count += 1;
  }

  protected sampleLines(): string[] {
    const lines: string[] = [];
    for (const { values, state } of this.series.values()) {
      const pairs = this.pairs(values);
      let cumulative = 0;
      this.buckets.forEach((bound, index) => {
        cumulative += state.counts[index]!;
        lines.push(`${this.name}_bucket${formatLabels([...pairs, ["le", formatValue(bound)]])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${formatLabels([...pairs, ["le", "+Inf"]])} ${state.count}`);
      lines.push(`${this.name}_sum${formatLabels(pairs)} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${formatLabels(pairs)} ${state.count}`);
    }
    return lines;
  }
}

type AnyFamily = Counter<string> | Gauge<string> | Histogram<string>;

/** Reads values that live elsewhere (the database, a limiter) into a gauge just before a scrape. */
export type Collector = () => Promise<void> | void;

/**
 * The metric families of one process, rendered in registration order. Collectors run at
 * each scrape; one that fails leaves its families empty for that scrape (reported through
 * `onCollectError`) rather than failing the scrape.
 */
export class MetricsRegistry {
  private readonly families: AnyFamily[] = [];
  private readonly collectors: { families: AnyFamily[]; collect: Collector }[] = [];
  /** The scrape in progress: scrapes run one after another, so two never fill the same gauges at once. */
  private rendering: Promise<unknown> = Promise.resolve();

  constructor(private readonly onCollectError: (family: string, error: unknown) => void = () => undefined) {}

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.add(new Counter<L>(name, help, labelNames));
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.add(new Gauge<L>(name, help, labelNames));
  }

  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return this.add(new Histogram<L>(name, help, labelNames, buckets));
  }

  /** Runs `collect` before each scrape; `families` are cleared first, so series that vanished do not linger. */
  collectWith(families: readonly { name: string }[], collect: Collector): void {
    const owned = families.map((family) => {
      const found = this.families.find((candidate) => candidate === family);
      if (!found) throw new Error(`Metric ${family.name} is not in this registry`);
      return found;
    });
    this.collectors.push({ families: owned, collect });
  }

  /** The exposition text: HELP, TYPE and samples of every family, ending with a line feed. */
  render(): Promise<string> {
    const next = this.rendering.then(() => this.renderNow());
    this.rendering = next.catch(() => undefined);
    return next;
  }

  private async renderNow(): Promise<string> {
    await Promise.all(
      this.collectors.map(async ({ families, collect }) => {
        for (const family of families) family.reset();
        try {
          await collect();
        } catch (error) {
          for (const family of families) family.reset();
          this.onCollectError(families.map((family) => family.name).join(", "), error);
        }
      }),
    );
    return this.families.flatMap((family) => family.render()).join("\n") + "\n";
  }

  private add<F extends AnyFamily>(family: F): F {
    if (this.families.some((existing) => existing.name === family.name)) throw new Error(`Metric ${family.name} is registered twice`);
    this.families.push(family);
    return family;
  }
}
