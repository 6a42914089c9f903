import { createHmac, timingSafeEqual } from "node:crypto";

/** The header that carries a webhook body's signature. */
export const SIGNATURE_HEADER = "X-Webhook-Signature";

/**
 * `sha256=<hex HMAC-SHA256 of the exact body bytes>` under WEBHOOK_SIGNING_SECRET (an empty
 * body signs the empty string). Receivers recompute it over the raw bytes they received.
 */
export function signWebhookBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Whether `header` is the signature of `body` under `secret`, compared in constant time. */
export function verifyWebhookSignature(secret: string, body: Buffer | string, header: string | undefined | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
