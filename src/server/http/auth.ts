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

/**
 * With API_KEYS configured, every API request must carry one of them as a bearer token.
 * Without, a bearer token is accepted and ignored, so vendor SDKs that always send one work.
 */
export function assertAuthorized(req: IncomingMessage, apiKeys: readonly string[]): void {
  if (apiKeys.length === 0) return;
  const token = bearerToken(req);
  if (!token) throw new AppError("UNAUTHORIZED", "Missing Authorization: Bearer <API key> header");
  const given = Buffer.from(token);
  const ok = apiKeys.some((key) => {
    const expected = Buffer.from(key);
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!ok) throw new AppError("UNAUTHORIZED", "Invalid API key");
}
