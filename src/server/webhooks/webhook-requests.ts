import { z } from "zod";
import { webhookMethodSchema, type NewWebhook } from "../jobs/webhook-outbox";
import { HEADER_NAME, redactHeaderLines, splitHeaderLine } from "../net/header-lines";

/** What a notification may carry (the vendor's `contents` items this server can produce). */
export const NOTIFICATION_CONTENTS = ["jobinfo", "transcript", "transcript.json-v2", "transcript.txt", "transcript.srt"] as const;
export type NotificationContent = (typeof NOTIFICATION_CONTENTS)[number];

/** Headers the server sets itself; a caller's auth_headers may not replace them. */
const RESERVED_HEADERS = new Set(["host", "content-length", "content-type", "transfer-encoding", "connection", "x-webhook-signature"]);

/** An absolute http(s) URL (where it may point is checked when it is called: the SSRF guard). */
export const webhookUrlSchema = z
  .string({ error: "a webhook url must be a string" })
  .max(2048, "a webhook url may be at most 2048 characters")
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname.length > 0;
    } catch {
      return false;
    }
  }, "a webhook url must be an absolute http or https URL");

/** "Name: value" lines, as the vendor's auth_headers; at most 20. */
export const authHeadersSchema = z
  .array(
    z
      .string()
      .max(8192, "an auth header may be at most 8192 characters")
      .refine((line) => !/[\r\n\0]/.test(line), "an auth header may not contain line breaks")
      .refine((line) => HEADER_NAME.test(splitHeaderLine(line)?.name ?? ""), 'an auth header must look like "Name: value"')
      .refine((line) => !RESERVED_HEADERS.has((splitHeaderLine(line)?.name ?? "").toLowerCase()), "auth_headers may not set Host, Content-Type, Content-Length, Transfer-Encoding, Connection or X-Webhook-Signature"),
  )
  .max(20, "at most 20 auth_headers");

/** One entry of the v2 config's `notification_config`, as the vendor documents it. */
export const notificationEntrySchema = z.object({
  url: webhookUrlSchema,
  contents: z
    .array(z.enum(NOTIFICATION_CONTENTS, { error: `notification_config contents must be among ${NOTIFICATION_CONTENTS.join(", ")}` }))
    .max(NOTIFICATION_CONTENTS.length)
    .optional(),
  method: webhookMethodSchema.optional(),
  auth_headers: authHeadersSchema.optional(),
});

export const notificationConfigSchema = z.array(notificationEntrySchema).max(10, "at most 10 notification_config entries");
export type NotificationConfig = z.infer<typeof notificationConfigSchema>;

/** The tRPC batch webhook: called once when the whole batch has finished. */
export const batchWebhookSchema = z.object({ url: webhookUrlSchema, authHeaders: authHeadersSchema.optional() });
export type BatchWebhook = z.infer<typeof batchWebhookSchema>;

export function notificationWebhooks(config: NotificationConfig | undefined | null): NewWebhook[] {
  return (config ?? []).map((entry) => ({
    kind: "notification",
    url: entry.url,
    method: entry.method ?? "POST",
    authHeaders: entry.auth_headers ?? [],
    // Not given and given empty differ at the vendor: see renderWebhookBody.
    contents: entry.contents === undefined ? null : [...new Set(entry.contents)],
  }));
}

export function callbackWebhook(url: string): NewWebhook {
  return { kind: "callback", url, method: "POST", authHeaders: [], contents: [] };
}

export function batchWebhook(hook: BatchWebhook): NewWebhook {
  return { kind: "batch", url: hook.url, method: "POST", authHeaders: hook.authHeaders ?? [], contents: [] };
}

/**
 * The job config as it is stored and echoed (GET /v2/jobs): auth header values are the
 * caller's credentials for its receiver, kept only in the outbox, never shown back.
 */
export function redactNotificationConfig<T extends Record<string, unknown>>(config: T): T {
  const entries = config.notification_config;
  if (!Array.isArray(entries)) return config;
  return {
    ...config,
    notification_config: entries.map((entry: unknown) => {
      if (!entry || typeof entry !== "object" || !Array.isArray((entry as { auth_headers?: unknown }).auth_headers)) return entry;
      return { ...entry, auth_headers: redactHeaderLines((entry as { auth_headers: unknown[] }).auth_headers) };
    }),
  };
}
