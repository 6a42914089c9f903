import { describeError } from "../errors";
import type { JobEventBus } from "../jobs/job-events";
import { formatDelay, type PendingLogLine } from "../jobs/job-store";
import { isTerminal } from "../jobs/job-status";
import type { Logger } from "../logger";
import { headerLinesToObject } from "../net/header-lines";
import type { WebhookOutcome } from "../observability/app-metrics";
import { outboundRequest, OutboundRefusedError, redactOutboundUrl, type OutboundPolicy } from "../net/outbound-http";
import type { JobView } from "../services/job-views";
import { nextRetryDelayMs, type WebhookRetrySchedule } from "./webhook-backoff";
import { deliveryUrl, renderWebhookBody, type PayloadSources } from "./webhook-payload";
import { SIGNATURE_HEADER, signWebhookBody } from "./webhook-signature";
import type { DeliveryAttempt, WebhookDelivery, WebhookStore } from "../jobs/webhook-outbox";

export type WebhookDelivererOptions = {
  store: WebhookStore;
  /** The job system as an operator sees it: bodies are rendered from the job's own data. */
  jobs: PayloadSources;
  events: JobEventBus;
  logger: Logger;
  outbound: OutboundPolicy;
  /** WEBHOOK_* settings: the per-try timeout, the retry schedule and the signing secret. */
  webhooks: WebhookRetrySchedule & { timeoutMs: number; signingSecret: string | undefined };
  /** ms between polls for due deliveries when no event wakes the loop (JOB_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** Attempts in flight at once in this process. */
  concurrency?: number;
  userAgent?: string;
  /** Each finished attempt's outcome (metrics). */
  onAttempt?: (outcome: WebhookOutcome) => void;
};

/** ms: job events within this window share one look at the outbox (hundreds of jobs a second finish in bursts). */
const EVENT_COALESCE_MS = 100;

/** The most of a failing receiver's answer kept for the log (bytes). */
const ERROR_BODY_BYTES = 200;

/**
 * Sends the outbox's due deliveries. Woken when any job finishes (on any replica, through
 * the event bus), when an attempt ends, and by a poll, so nothing rests on having heard an
 * event: after a restart the first poll finds whatever was promised and not yet delivered.
 * Each attempt is claimed with a lease in the database (WebhookStore.claimDue), so replicas
 * never send the same attempt, and only one success is ever recorded per delivery.
 */
export class WebhookDeliverer {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly userAgent: string;
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private pumping = false;
  private again = false;
  private closed = false;
  private unsubscribe: () => void = () => undefined;

  constructor(private readonly options: WebhookDelivererOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    // An attempt ends within its timeout; the rest covers rendering and the database writes.
    this.leaseMs = options.webhooks.timeoutMs * 2 + 10_000;
    this.userAgent = options.userAgent ?? "transcribe-server-webhooks/1";
  }

  start(): void {
    this.unsubscribe = this.options.events.subscribe((event) => {
      if ((event.type === "changed" && isTerminal(event.status)) || event.type === "resync") this.wake();
    });
    this.kick();
  }

  /** Looks for due deliveries shortly: a burst of finishing jobs costs one claim, not one per job. */
  private wake(): void {
    if (this.wakeTimer || this.closed) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.kick();
    }, Math.min(EVENT_COALESCE_MS, this.options.pollIntervalMs));
    this.wakeTimer.unref();
  }

  /** Looks for due deliveries now. */
  kick(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  /**
   * Stops claiming and waits up to `graceMs` for attempts in flight; any still running then
   * are aborted, and their leased rows are sent again by whichever process is up after the
   * lease. Safe to call twice.
   */
  async close(graceMs = 0): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.timer = null;
    this.wakeTimer = null;
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    clearTimeout(graceTimer);
    this.stopping.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        const room = this.concurrency - this.inFlight.size;
        if (room <= 0 || this.closed) break;
        const claimed = await this.options.store.claimDue(room, this.leaseMs);
        // Closed meanwhile: the claimed rows are due again when their lease ends, for whichever process is up.
        if (this.closed) break;
        for (const delivery of claimed) this.track(this.attempt(delivery));
        if (claimed.length === room) this.again = true;
      } while (this.again && !this.closed);
      await this.scheduleNextPoll();
    } catch (error) {
      if (!this.closed) this.options.logger.error("webhook outbox poll failed; trying again", { error: describeError(error) });
      this.armTimer(this.options.pollIntervalMs);
    } finally {
      this.pumping = false;
    }
    // Woken while it was finishing: look once more.
    if (this.again && !this.closed) this.kick();
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => {
      this.inFlight.delete(work);
      // A slot is free (and a retry may be due sooner than the poll).
      this.kick();
    });
  }

  /** Polls again at the next pending delivery's time, or after the poll interval, whichever is sooner. */
  private async scheduleNextPoll(): Promise<void> {
    if (this.closed) return;
    const next = await this.options.store.nextDueAt();
    const untilNext = next === null ? Infinity : Math.max(0, next.getTime() - Date.now());
    this.armTimer(Math.min(this.options.pollIntervalMs, untilNext));
  }

  private armTimer(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, ms);
    this.timer.unref();
  }

  /** One attempt of a claimed delivery: render (first time), send, record the outcome with its log line. */
  private async attempt(delivery: WebhookDelivery): Promise<void> {
    const ref: DeliveryAttempt = { id: delivery.id, jobId: delivery.jobId, attempt: delivery.attempts };
    const { logger } = this.options;
    // Credentials and query values stay out of logs (a URL may carry a token).
    const shownUrl = redactOutboundUrl(delivery.url);
    const prefix = `webhook ${delivery.method} ${shownUrl}`;
    const fields = { jobId: delivery.jobId, webhookId: delivery.id, kind: delivery.kind, url: shownUrl, attempt: ref.attempt };
    try {
      let job: JobView;
      let payload: { body: string; contentType: string | null };
      try {
        job = await this.options.jobs.get(delivery.jobId);
        if (delivery.body === null) {
          const rendered = await renderWebhookBody(delivery, this.options.jobs);
          payload = await this.options.store.saveBody(ref, rendered.body, rendered.contentType);
        } else {
          payload = { body: delivery.body, contentType: delivery.contentType };
        }
      } catch (error) {
        // The job's data could not be read (the database, a deleted job): try again later.
        await this.retryOrFail(ref, fields, prefix, `could not render the body: ${describeError(error)}`);
        return;
      }

      const body = Buffer.from(payload.body, "utf8");
      const headers: Record<string, string> = { "User-Agent": this.userAgent, ...headerLinesToObject(delivery.authHeaders) };
      if (payload.contentType) headers["Content-Type"] = payload.contentType;
      if (this.options.webhooks.signingSecret) headers[SIGNATURE_HEADER] = signWebhookBody(this.options.webhooks.signingSecret, body);
      const started = performance.now();
      let status: number;
      let answer = "";
      try {
        const response = await outboundRequest(
          {
            url: deliveryUrl(delivery, job.status),
            method: delivery.method,
            headers,
            body,
            timeoutMs: this.options.webhooks.timeoutMs,
            maxRedirects: 0,
            signal: this.stopping.signal,
          },
          this.options.outbound,
        );
        status = response.status;
        answer = await readSome(response.body, status >= 200 && status < 300 ? 0 : ERROR_BODY_BYTES);
      } catch (error) {
        const ms = Math.round(performance.now() - started);
        if (error instanceof OutboundRefusedError) {
          const reason = `refused: ${error.message}`;
          const applied = await this.options.store.markFailed(ref, reason, { level: "error", message: `${prefix} → ${reason}; not retried (attempt ${ref.attempt})` });
          if (applied) {
            logger.error("webhook refused; not retried", { ...fields, error: error.message });
            this.options.onAttempt?.("failed");
          }
          return;
        }
        if (this.closed && this.stopping.signal.aborted) return; // the lease hands it to the next process
        await this.retryOrFail(ref, fields, prefix, `failed after ${ms} ms: ${describeError(error)}`);
        return;
      }
      const ms = Math.round(performance.now() - started);
      if (status >= 200 && status < 300) {
        const applied = await this.options.store.markDelivered(ref, { level: "info", message: `${prefix} → ${status} in ${ms} ms (attempt ${ref.attempt})` });
        if (applied) {
          logger.info("webhook delivered", { ...fields, status, ms });
          this.options.onAttempt?.("delivered");
        }
        return;
      }
      const detail = answer.trim() ? `: ${answer.trim().replace(/\s+/g, " ").slice(0, ERROR_BODY_BYTES)}` : "";
      await this.retryOrFail(ref, fields, prefix, `${status} in ${ms} ms${detail}`);
    } catch (error) {
      // The database went away mid-attempt: the lease brings the row back.
      if (!this.closed) logger.error("webhook attempt could not be recorded; it is retried after its lease", { ...fields, error: describeError(error) });
    }
  }

  /** Schedules the next attempt, or gives up when the retry window is over. */
  private async retryOrFail(ref: DeliveryAttempt, fields: Record<string, unknown>, prefix: string, what: string): Promise<void> {
    const delay = nextRetryDelayMs(ref.attempt, this.options.webhooks);
    if (delay === null) {
      const log: PendingLogLine = { level: "error", message: `${prefix} → ${what}; giving up after ${ref.attempt} attempts` };
      if (await this.options.store.markFailed(ref, what, log)) {
        this.options.logger.error("webhook failed; giving up", { ...fields, error: what });
        this.options.onAttempt?.("failed");
      }
      return;
    }
    const log: PendingLogLine = { level: "warn", message: `${prefix} → ${what}; retry in ${formatDelay(delay)} (attempt ${ref.attempt})` };
    if (await this.options.store.scheduleRetry(ref, what, new Date(Date.now() + delay), log)) {
      this.options.logger.warn("webhook attempt failed; retrying", { ...fields, error: what, retryInMs: delay });
      this.options.onAttempt?.("retry");
    }
  }
}

/** Reads up to `limit` bytes of a response (for the log) and discards the rest. */
async function readSome(body: NodeJS.ReadableStream & { destroy(): void }, limit: number): Promise<string> {
  if (limit <= 0) {
    body.destroy();
    return "";
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      chunks.push(buffer);
      size += buffer.length;
      if (size >= limit) break;
    }
  } catch {
    // A broken answer body changes nothing: the status decided.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit).toString("utf8");
}
