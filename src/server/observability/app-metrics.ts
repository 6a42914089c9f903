import { MetricsRegistry } from "./metrics";

/** Where the values read at scrape time come from; the app wires them, tests may fake them. */
export type MetricsSources = {
  /** Jobs by type, status and lane (one GROUP BY). */
  jobCounts(): Promise<{ type: string; status: string; lane: string | null; count: number }[]>;
  /** The lanes queue depth is reported for even when empty (a series that vanishes at 0 reads as missing data). */
  lanes: readonly string[];
  /** Transcription capacity: this process's engine slots, or the remote fleet's in-flight limit. */
  engineCapacity(): Promise<{ maxEngines: number; usedEngines: number }>;
  /** LLM requests holding a limiter slot now. */
  llmInFlight(): number;
  onCollectError?: (family: string, error: unknown) => void;
};

/** How a webhook delivery attempt ended: delivered, retry (will be tried again), failed (given up). */
export type WebhookOutcome = "delivered" | "retry" | "failed";

/** Statuses every job type seen gets a series for, zero when none are in it. */
const JOB_STATUSES = ["QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"] as const;

/** Methods kept as labels; anything else is "OTHER", so a client cannot mint series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Seconds: from a health probe to a synchronous transcription of a long file. */
const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Audio seconds per processing second: below 1 is slower than real time; GPUs reach hundreds. */
const RTFX_BUCKETS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/**
 * The platform's metrics (GET /metrics). Counters and histograms move as things happen in
 * this process; gauges (jobs, queue depth, engine slots, LLM requests in flight) are read
 * when scraped. With several replicas, each reports its own counters, and the database
 * gauges are the same on every replica: aggregate them with max, not sum.
 */
export class Metrics {
  private readonly registry: MetricsRegistry;
  private readonly httpRequests;
  private readonly httpDuration;
  private readonly audioSeconds;
  private readonly rtfx;
  private readonly llmRetries;
  private readonly webhookDeliveries;

  constructor(sources: MetricsSources) {
    const registry = new MetricsRegistry(sources.onCollectError);
    this.registry = registry;
    this.httpRequests = registry.counter("http_requests_total", "HTTP requests answered, by route template, method and status.", ["route", "method", "status"]);
    this.httpDuration = registry.histogram("http_request_duration_seconds", "Time from a request's arrival to the end of its response, by route template.", ["route"], HTTP_DURATION_BUCKETS);

    const jobs = registry.gauge("jobs", "Jobs in the database by type and status.", ["type", "status"]);
    const queueDepth = registry.gauge("queue_depth", "Jobs waiting in the queue, by lane (asr, convert, llm).", ["lane"]);
    registry.collectWith([jobs, queueDepth], async () => {
      const rows = await sources.jobCounts();
      for (const type of new Set(rows.map((row) => row.type))) for (const status of JOB_STATUSES) jobs.set({ type, status }, 0);
      for (const lane of sources.lanes) queueDepth.set({ lane }, 0);
      for (const row of rows) {
        jobs.inc({ type: row.type, status: row.status }, row.count);
        if (row.status === "QUEUED" && row.lane !== null) queueDepth.inc({ lane: row.lane }, row.count);
      }
    });

    const slots = registry.gauge("engine_slots", "Transcription engine slots (or the remote fleet's in-flight limit): used and total.", ["state"]);
    registry.collectWith([slots], async () => {
      const capacity = await sources.engineCapacity();
      slots.set({ state: "used" }, capacity.usedEngines);
      slots.set({ state: "total" }, capacity.maxEngines);
    });

    this.audioSeconds = registry.counter("audio_seconds_processed_total", "Seconds of audio transcribed by finished jobs, by job type.", ["type"]);
    this.rtfx = registry.histogram("transcription_rtfx", "Speed of each finished transcription: audio seconds per processing second.", [], RTFX_BUCKETS);

    const llmInFlight = registry.gauge("llm_requests_in_flight", "LLM requests holding a MAX_LLM_CONCURRENCY slot now.");
    registry.collectWith([llmInFlight], () => llmInFlight.set({}, sources.llmInFlight()));
    this.llmRetries = registry.counter("llm_retries_total", "LLM requests retried after a 429, a 5xx, a timeout or a connection failure.");
    this.webhookDeliveries = registry.counter("webhook_deliveries_total", "Webhook delivery attempts by outcome: delivered, retry (will be tried again), failed (given up).", ["outcome"]);
  }

  /** One answered request; `route` is a route template, never a raw path. */
  httpRequest(route: string, method: string, status: number, seconds: number): void {
    const normalized = KNOWN_METHODS.has(method) ? method : "OTHER";
    this.httpRequests.inc({ route, method: normalized, status: String(status) });
    this.httpDuration.observe({ route }, seconds);
  }

  /** A transcription that finished: its audio length and the time the engine took. */
  transcribed(type: string, audioSeconds: number, processingSeconds: number): void {
    this.audioSeconds.inc({ type }, Math.max(0, audioSeconds));
    if (processingSeconds > 0) this.rtfx.observe({}, audioSeconds / processingSeconds);
  }

  llmRetry(): void {
    this.llmRetries.inc({});
  }

  webhookAttempt(outcome: WebhookOutcome): void {
    this.webhookDeliveries.inc({ outcome });
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.render();
  }
}
