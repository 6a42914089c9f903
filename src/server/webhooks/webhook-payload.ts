import { randomBytes } from "node:crypto";
import { AppError } from "../errors";
import type { ScopedJobs } from "../services/scoped-jobs";
import type { JobView } from "../services/job-views";
import { renderTranscript, type TranscriptDocument, type TranscriptFormat } from "../transcripts/render-transcript";
import type { NotificationContent } from "./webhook-requests";
import type { WebhookDelivery } from "../jobs/webhook-outbox";
import { toAsyncDetail } from "../wire/async-job";
import { toV2Job } from "../wire/v2-job";

/** A webhook's body: the exact text sent (UTF-8), and its Content-Type (null: no body). */
export type RenderedBody = { body: string; contentType: string | null };

/** Where bodies are read from: the job system as an operator sees it (the job's own data, for its own webhook). */
export type PayloadSources = Pick<ScopedJobs, "get" | "transcript" | "batchSummary">;

type Part = { name: string; filename: string; contentType: string; body: string };

const TRANSCRIPT_ITEMS: Record<Exclude<NotificationContent, "jobinfo">, { format: TranscriptFormat; extension: string }> = {
  transcript: { format: "json-v2", extension: "json" },
  "transcript.json-v2": { format: "json-v2", extension: "json" },
  "transcript.txt": { format: "txt", extension: "txt" },
  "transcript.srt": { format: "srt", extension: "srt" },
};

/**
 * Renders what a delivery sends, from its job as it finished. Done once, at the first
 * attempt; the outbox keeps the result so that every retry sends the same bytes.
 *
 * - notification (the vendor's notification_config): no contents → no body; one item →
 *   that item is the body; several → multipart/form-data, one named part per item. Contents
 *   not given at all → the transcript (json-v2) as a `data_file` attachment, as the vendor
 *   does for backwards compatibility. Items a failed job does not have are left out.
 * - callback (the async API's callback_url): the job's status as GET /transcribe-job shows it.
 * - batch (tRPC): `{ batchId, status, counts, finishedAt }`.
 */
export async function renderWebhookBody(delivery: WebhookDelivery, sources: PayloadSources): Promise<RenderedBody> {
  const job = await sources.get(delivery.jobId);
  switch (delivery.kind) {
    case "callback":
      return json(await toAsyncDetail(sources, job));
    case "batch": {
      const summary = await sources.batchSummary(job.id);
      return json({
        batchId: job.id,
        status: job.status,
        counts: { total: summary.total, done: summary.done, failed: summary.failed, cancelled: summary.cancelled },
        finishedAt: job.finishedAt?.toISOString() ?? null,
      });
    }
    case "notification":
      return renderNotification(delivery.contents, job, sources);
    default: {
      const unknown: never = delivery.kind;
      throw new Error(`Unknown webhook kind ${String(unknown)}`);
    }
  }
}

async function renderNotification(contents: string[] | null, job: JobView, sources: PayloadSources): Promise<RenderedBody> {
  if (contents === null) {
    const transcript = await renderItem("transcript", job, sources);
    return multipart(transcript ? [{ ...transcript, name: "data_file" }] : []);
  }
  if (contents.length === 0) return { body: "", contentType: null };
  const parts: Part[] = [];
  for (const item of contents) {
    const part = await renderItem(item as NotificationContent, job, sources);
    if (part) parts.push(part);
  }
  if (contents.length === 1) {
    const only = parts[0];
    return only ? { body: only.body, contentType: only.contentType } : { body: "", contentType: null };
  }
  return multipart(parts);
}

/** One contents item, or null when the job has none (a failed job's transcript). */
async function renderItem(item: NotificationContent, job: JobView, sources: PayloadSources): Promise<Part | null> {
  if (item === "jobinfo") {
    return { name: item, filename: `${job.id}.jobinfo.json`, contentType: "application/json; charset=utf-8", body: JSON.stringify(toV2Job(job, "lower")) };
  }
  const spec = TRANSCRIPT_ITEMS[item];
  if (!spec) return null;
  const document = await transcriptOf(job, sources);
  if (!document) return null;
  const rendered = renderTranscript(document, spec.format, { dataName: job.media?.originalName ?? job.id, language: job.language ?? document.language });
  return { name: item, filename: `${job.id}.${spec.extension}`, contentType: rendered.contentType, body: rendered.body };
}

async function transcriptOf(job: JobView, sources: PayloadSources): Promise<TranscriptDocument | null> {
  if (job.status !== "DONE") return null;
  try {
    return (await sources.transcript(job.id)).document;
  } catch (error) {
    // A DONE job without a transcript (not a transcription): the item is simply not there.
    if (error instanceof AppError && error.code === "NOT_FOUND") return null;
    throw error;
  }
}

function json(value: unknown): RenderedBody {
  return { body: JSON.stringify(value), contentType: "application/json; charset=utf-8" };
}

/** multipart/form-data with one file part per item (bodies are text, so the whole body is too). */
export function multipart(parts: readonly Part[]): RenderedBody {
  const boundary = `----transcribe-webhook-${randomBytes(12).toString("hex")}`;
  const quoted = (value: string) => value.replace(/["\\\r\n]/g, "_");
  const sections = parts.map(
    (part) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(part.name)}"; filename="${quoted(part.filename)}"\r\nContent-Type: ${part.contentType}\r\n\r\n${part.body}\r\n`,
  );
  return { body: `${sections.join("")}--${boundary}--\r\n`, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** The vendor's notification status: success for a transcript, error otherwise. */
export function notificationStatus(status: JobView["status"]): "success" | "error" {
  return status === "DONE" ? "success" : "error";
}

/** The URL an attempt calls: a notification gets the vendor's `id` and `status` query parameters. */
export function deliveryUrl(delivery: Pick<WebhookDelivery, "kind" | "url" | "jobId">, jobStatus: JobView["status"]): string {
  if (delivery.kind !== "notification") return delivery.url;
  const url = new URL(delivery.url);
  url.searchParams.set("id", delivery.jobId);
  url.searchParams.set("status", notificationStatus(jobStatus));
  return url.toString();
}
