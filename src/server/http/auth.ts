import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { AppError } from "../errors";

/** The bearer token of a request, if any. */
export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1]?.trim() ?? null;
}

/** Whether `candidate` is one of the API keys; each comparison is constant-time, so timing reveals no prefix. */
export function isApiKey(candidate: string, apiKeys: readonly string[]): boolean {
  const given = Buffer.from(candidate);
  return apiKeys.some((key) => {
    const expected = Buffer.from(key);
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}

/**
 * With API_KEYS configured, every API request must carry one of them as a bearer token.
 * Without, a bearer token is accepted and ignored, so vendor SDKs that always send one work.
 */
export function assertAuthorized(req: IncomingMessage, apiKeys: readonly string[]): void {
  if (apiKeys.length === 0) return;
  const token = bearerToken(req);
  if (!token) throw new AppError("UNAUTHORIZED", "Missing Authorization: Bearer <API key> header");
  assertApiKey(token, apiKeys);
}

/** UNAUTHORIZED unless `token` is one of the API keys (none configured: anything passes). */
export function assertApiKey(token: string, apiKeys: readonly string[]): void {
  if (apiKeys.length > 0 && !isApiKey(token, apiKeys)) throw new AppError("UNAUTHORIZED", "Invalid API key");
}

/**
 * assertAuthorized that also takes the key as `?access_token=<key>` when no Authorization
 * header is sent: <audio> and <video> elements load their URL themselves and cannot add
 * headers. For read-only GET routes only, since a key in a URL can end up in browser history
 * and proxy logs.
 */
export function assertAuthorizedWithQueryToken(req: IncomingMessage, url: URL, apiKeys: readonly string[]): void {
  if (apiKeys.length === 0) return;
  const queryToken = url.searchParams.get("access_token");
  if (req.headers.authorization !== undefined || queryToken === null) {
    assertAuthorized(req, apiKeys);
    return;
  }
  if (!isApiKey(queryToken, apiKeys)) throw new AppError("UNAUTHORIZED", "Invalid API key");
}
