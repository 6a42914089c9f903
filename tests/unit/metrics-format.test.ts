import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "../../src/server/observability/app-metrics";
import { escapeLabelValue, MetricsRegistry } from "../../src/server/observability/metrics";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus-text";

describe("Prometheus text format", () => {
  it("writes HELP and TYPE lines, and escapes HELP text and label values so they parse back unchanged", async () => {
    const registry = new MetricsRegistry();
    const counter = registry.counter("things_total", 'Things, with a \\ backslash\nand a line feed and "quotes".', ["kind"]);
    const awkward = 'a "quoted" \\ back\nslash';
    counter.inc({ kind: awkward }, 2);
    counter.inc({ kind: "plain" });
    counter.inc({ kind: "plain" }, 0.5);
    const text = await registry.render();
    assert.ok(text.endsWith("\n"));
    assert.ok(text.includes("# HELP things_total Things, with a \\\\ backslash\\nand a line feed and \"quotes\"."), text);
    assert.ok(text.includes("# TYPE things_total counter"), text);
    assert.ok(text.includes(`things_total{kind="a \\"quoted\\" \\\\ back\\nslash"} 2`), text);
    assert.equal(escapeLabelValue('x"\\\n'), 'x\\"\\\\\\n');
    const parsed = parsePrometheusText(text);
    assert.equal(parsed.help.get("things_total"), 'Things, with a \\ backslash\nand a line feed and "quotes".');
    assert.equal(parsed.types.get("things_total"), "counter");
    assert.equal(sampleValue(parsed, "things_total", { kind: awkward }), 2);
    assert.equal(sampleValue(parsed, "things_total", { kind: "plain" }), 1.5);
  });

  it("writes a histogram's cumulative buckets, +Inf, _sum and _count per label set", async () => {
    const registry = new MetricsRegistry();
    const histogram = registry.histogram("latency_seconds", "Latency.", ["route"], [1, 0.1, 0.5]);
    for (const value of [0.05, 0.1, 0.3, 0.7, 4]) histogram.observe({ route: "/a" }, value);
    histogram.observe({ route: "/b" }, 0.2);
    const text = await registry.render();
    const lines = text.split("\n").filter((line) => line.startsWith("latency_seconds") && line.includes('route="/a"'));
    assert.deepEqual(lines, [
      'latency_seconds_bucket{route="/a",le="0.1"} 2',
      'latency_seconds_bucket{route="/a",le="0.5"} 3',
      'latency_seconds_bucket{route="/a",le="1"} 4',
      'latency_seconds_bucket{route="/a",le="+Inf"} 5',
      'latency_seconds_sum{route="/a"} 5.15',
      'latency_seconds_count{route="/a"} 5',
    ]);
    const parsed = parsePrometheusText(text);
    assert.equal(parsed.types.get("latency_seconds"), "histogram");
    assert.equal(sampleValue(parsed, "latency_seconds_bucket", { route: "/b", le: "0.1" }), 0);
    assert.equal(sampleValue(parsed, "latency_seconds_bucket", { route: "/b", le: "+Inf" }), 1);
    assert.equal(sampleValue(parsed, "latency_seconds_count", { route: "/b" }), 1);
  });

  it("writes a metric without labels bare, and a family with no series as HELP and TYPE only", async () => {
    const registry = new MetricsRegistry();
    registry.gauge("up_now", "Up.").set({}, 1);
    registry.counter("never_total", "Never counted.");
    const text = await registry.render();
    assert.ok(text.includes("\nup_now 1\n"), text);
    assert.ok(text.includes("# TYPE never_total counter"), text);
    assert.ok(!/^never_total /m.test(text));
  });

  it("runs scrapes one after another, so concurrent scrapes never mix their reads", async () => {
    const registry = new MetricsRegistry();
    const gauge = registry.gauge("things", "Things.", ["kind"]);
    let reads = 0;
    registry.collectWith([gauge], async () => {
      const n = ++reads;
      await new Promise((resolve) => setImmediate(resolve));
      gauge.inc({ kind: "a" }, n);
    });
    const texts = await Promise.all([registry.render(), registry.render(), registry.render()]);
    assert.deepEqual(
      texts.map((text) => sampleValue(parsePrometheusText(text), "things", { kind: "a" })),
      [1, 2, 3],
    );
  });

  it("refuses names and labels the format does not allow, and counters that go down", () => {
    const registry = new MetricsRegistry();
    assert.throws(() => registry.counter("bad-name", "x"));
    assert.throws(() => registry.counter("ok_total", "x", ["bad-label"]));
    assert.throws(() => registry.counter("ok2_total", "x", ["__reserved"]));
    assert.throws(() => registry.histogram("h", "x", ["le"], [1]));
    const counter = registry.counter("c_total", "x");
    assert.throws(() => counter.inc({}, -1));
    registry.gauge("g", "x");
    assert.throws(() => registry.gauge("g", "x"), /twice/);
  });

  it("reads gauges afresh at each scrape, dropping series that went away; a failing source empties only its own families", async () => {
    let rows = [
      { type: "transcribe", status: "QUEUED", lane: "asr", count: 2 },
      { type: "transcribe", status: "DONE", lane: "asr", count: 5 },
      { type: "fix_srt", status: "QUEUED", lane: "llm", count: 1 },
    ];
    let failCapacity = false;
    const errors: string[] = [];
    const metrics = new Metrics({
      jobCounts: async () => rows,
      lanes: ["asr", "convert", "llm"],
      engineCapacity: async () => {
        if (failCapacity) throw new Error("down");
        return { maxEngines: 4, usedEngines: 1 };
      },
      llmInFlight: () => 3,
      onCollectError: (family) => errors.push(family),
    });
    metrics.httpRequest("/v2/jobs/:id", "GET", 200, 0.02);
    metrics.httpRequest("/v2/jobs/:id", "BREW", 400, 0.02);
    metrics.transcribed("transcribe", 10, 2);
    metrics.llmRetry();
    metrics.webhookAttempt("retry");
    metrics.webhookAttempt("delivered");

    let parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, "jobs", { type: "transcribe", status: "DONE" }), 5);
    assert.equal(sampleValue(parsed, "jobs", { type: "transcribe", status: "FAILED" }), 0);
    assert.equal(sampleValue(parsed, "queue_depth", { lane: "asr" }), 2);
    assert.equal(sampleValue(parsed, "queue_depth", { lane: "llm" }), 1);
    assert.equal(sampleValue(parsed, "queue_depth", { lane: "convert" }), 0);
    assert.ok(parsed.samples.some((sample) => sample.name === "queue_depth" && sample.labels.lane === "convert"), "an empty lane still has a series");
    assert.equal(sampleValue(parsed, "engine_slots", { state: "used" }), 1);
    assert.equal(sampleValue(parsed, "engine_slots", { state: "total" }), 4);
    assert.equal(sampleValue(parsed, "llm_requests_in_flight"), 3);
    assert.equal(sampleValue(parsed, "llm_retries_total"), 1);
    assert.equal(sampleValue(parsed, "http_requests_total", { route: "/v2/jobs/:id", method: "GET", status: "200" }), 1);
    assert.equal(sampleValue(parsed, "http_requests_total", { method: "OTHER" }), 1, "unknown methods are one label value");
    assert.equal(sampleValue(parsed, "audio_seconds_processed_total", { type: "transcribe" }), 10);
    assert.equal(sampleValue(parsed, "transcription_rtfx_count"), 1);
    assert.equal(sampleValue(parsed, "transcription_rtfx_sum"), 5);
    assert.equal(sampleValue(parsed, "transcription_rtfx_bucket", { le: "2" }), 0);
    assert.equal(sampleValue(parsed, "transcription_rtfx_bucket", { le: "5" }), 1);
    assert.equal(sampleValue(parsed, "webhook_deliveries_total", { outcome: "retry" }), 1);
    assert.equal(sampleValue(parsed, "webhook_deliveries_total", { outcome: "delivered" }), 1);

    rows = [{ type: "transcribe", status: "DONE", lane: "asr", count: 7 }];
    failCapacity = true;
    parsed = parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(parsed, "jobs", { type: "transcribe", status: "DONE" }), 7);
    assert.ok(!parsed.samples.some((sample) => sample.name === "jobs" && sample.labels.type === "fix_srt"), "a type with no jobs left is gone");
    assert.ok(!parsed.samples.some((sample) => sample.name === "engine_slots"), "a failed read reports nothing rather than stale values");
    assert.deepEqual(errors, ["engine_slots"]);
    assert.equal(sampleValue(parsed, "llm_retries_total"), 1, "counters carry on");
  });
});
