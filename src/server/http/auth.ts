import type { IncomingMessage } from "node:http";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { OPERATOR, userPrincipal, type Principal } from "../access";
import type { ApiKey } from "../env";
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
const digestCache = new WeakMap<readonly ApiKey[], Buffer[]>();

function digest(value: string): Buffer {
  return createHmac("sha256", COMPARISON_KEY).update(value).digest();
}

/**
 * The principal `candidate` is the key of, or null, in time independent of which keys exist
 * and how they differ.
 */
export function principalOfKey(candidate: string, apiKeys: readonly ApiKey[]): Principal | null {
  let digests = digestCache.get(apiKeys);
  if (!digests) {
    digests = apiKeys.map((entry) => digest(entry.key));
    digestCache.set(apiKeys, digests);
  }
  const given = digest(candidate);
  // Every key is compared (no early exit), so the time does not say which one matched.
  let matched = -1;
  digests.forEach((expected, index) => {
    if (timingSafeEqual(expected, given) && matched === -1) matched = index;
  });
  if (matched === -1) return null;
  const userId = apiKeys[matched]!.userId;
  return userId === null ? OPERATOR : userPrincipal(userId);
}

/**
 * The caller of a request. With API_KEYS configured, every API request must carry one of
 * them as a bearer token (UNAUTHORIZED otherwise). Without, a bearer token is accepted and
 * ignored, so vendor SDKs that always send one work, and the caller is an operator.
 */
export function authenticate(req: IncomingMessage, apiKeys: readonly ApiKey[]): Principal {
  if (apiKeys.length === 0) return OPERATOR;
  const token = bearerToken(req);
  if (!token) throw new AppError("UNAUTHORIZED", "Missing Authorization: Bearer <API key> header");
  return authenticateKey(token, apiKeys);
}

/** The principal of `token`, or UNAUTHORIZED (no keys configured: an operator). */
export function authenticateKey(token: string, apiKeys: readonly ApiKey[]): Principal {
  if (apiKeys.length === 0) return OPERATOR;
  const principal = principalOfKey(token, apiKeys);
  if (!principal) throw new AppError("UNAUTHORIZED", "Invalid API key");
  return principal;
}

/** authenticate, and FORBIDDEN unless the caller holds an operator key (/metrics). */
export function authenticateOperator(req: IncomingMessage, apiKeys: readonly ApiKey[]): Principal {
  const principal = authenticate(req, apiKeys);
  if (principal.kind !== "operator") throw new AppError("FORBIDDEN", "This endpoint needs an operator key (an API_KEYS entry without :user)");
  return principal;
}

/**
 * authenticate that also takes the key as `?access_token=<key>` when no Authorization
 * header is sent: <audio> and <video> elements load their URL themselves and cannot add
 * headers. For read-only GET routes only, since a key in a URL can end up in browser history
 * and proxy logs.
 */
export function authenticateWithQueryToken(req: IncomingMessage, url: URL, apiKeys: readonly ApiKey[]): Principal {
  if (apiKeys.length === 0) return OPERATOR;
  const queryToken = url.searchParams.get("access_token");
  if (req.headers.authorization !== undefined || queryToken === null) return authenticate(req, apiKeys);
  return authenticateKey(queryToken, apiKeys);
}
