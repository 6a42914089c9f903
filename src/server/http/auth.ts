import type { IncomingMessage } from "node:http";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors";

/** The bearer token of a request, if any. */
export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1]?.trim() ?? null;
}

/**
 * Keys are compared as HMACs under a key of this process: digests all have the same length,
 * so neither a key's length nor its prefix shows in how long a comparison takes.
 */
const COMPARISON_KEY = randomBytes(32);
const digestCache = new WeakMap<readonly string[], Buffer[]>();

function digest(value: string): Buffer {
  return createHmac("sha256", COMPARISON_KEY).update(value).digest();
}

/** Whether `candidate` is one of the API keys, in time independent of which keys exist and how they differ. */
export function isApiKey(candidate: string, apiKeys: readonly string[]): boolean {
  let digests = digestCache.get(apiKeys);
  if (!digests) {
    digests = apiKeys.map(digest);
    digestCache.set(apiKeys, digests);
  }
  const given = digest(candidate);
  // Every key is compared (no early exit), so the time does not say which one matched.
  let matched = false;
  for (const expected of digests) matched = timingSafeEqual(expected, given) || matched;
  return matched;
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
