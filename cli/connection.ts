import { createTRPCClient, httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "../src/server/api/trpc/root";

/** Where the server is and the API key to send it (a server with API_KEYS needs one). */
export type Connection = { server: string; apiKey: string | null };

/** The value after `--name` in raw arguments, before each command parses its own options. */
function flagValue(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

/** --server / $TRANSCRIBE_SERVER (default http://127.0.0.1:18000) and --api-key / $TRANSCRIBE_API_KEY. */
export function readConnection(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Connection {
  return {
    server: flagValue(args, "--server") ?? env.TRANSCRIBE_SERVER ?? "http://127.0.0.1:18000",
    apiKey: flagValue(args, "--api-key") ?? env.TRANSCRIBE_API_KEY ?? null,
  };
}

export function authHeaders(connection: Connection): Record<string, string> {
  return connection.apiKey ? { authorization: `Bearer ${connection.apiKey}` } : {};
}

/**
 * Query parameters left out of messages: credentials (the media route accepts `access_token`)
 * and tRPC's `input`/`batch`, which are long and say nothing about why a connection failed.
 */
const HIDDEN_PARAMS = new Set(["access_token", "api_key", "apikey", "key", "token", "input", "batch"]);

/** A URL fit for an error message: no user:password, no credentials or tRPC input in the query. */
export function describeUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return String(url);
  }
  parsed.username = "";
  parsed.password = "";
  for (const name of [...parsed.searchParams.keys()]) if (HIDDEN_PARAMS.has(name.toLowerCase())) parsed.searchParams.delete(name);
  return parsed.href;
}

type ErrorLike = { message?: unknown; code?: unknown; cause?: unknown; errors?: unknown };

function asErrorLike(value: unknown): ErrorLike | null {
  return typeof value === "object" && value !== null ? (value as ErrorLike) : null;
}

/**
 * The innermost useful reason in an error's cause chain. Node's fetch says only "fetch failed"
 * and keeps the socket error (ECONNREFUSED, ENOTFOUND, ...) in `cause`; a host name with
 * several addresses (localhost: ::1 and 127.0.0.1) gives an AggregateError with an empty
 * message and one error per address.
 */
export function describeCause(error: unknown): string {
  const reasons: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    const like = asErrorLike(current);
    if (!like) {
      reasons.push(String(current));
      break;
    }
    const message = typeof like.message === "string" ? like.message : "";
    const code = typeof like.code === "string" ? like.code : "";
    const inner = Array.isArray(like.errors) ? like.errors.map((item) => describeCause(item)).filter(Boolean) : [];
    if (inner.length) reasons.push(code && !inner.some((text) => text.includes(code)) ? `${code}: ${inner.join("; ")}` : inner.join("; "));
    else if (message && message !== "fetch failed") reasons.push(code && !message.includes(code) ? `${code}: ${message}` : message);
    else if (code) reasons.push(code);
    if (inner.length) break;
    current = like.cause;
  }
  // The innermost reason is the one that names the socket error; outer ones only wrap it.
  return reasons.at(-1) ?? (error instanceof Error ? error.message : String(error));
}

/**
 * A request that got no HTTP answer (refused, reset, unknown host): the message names the
 * method, the URL (never the API key, which travels in a header) and the socket error, which
 * "fetch failed" alone does not.
 */
export class NetworkError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    cause: unknown,
  ) {
    super(`${method} ${describeUrl(url)} failed: ${describeCause(cause)}`, { cause });
    this.name = "NetworkError";
  }
}

/** The request was given up on purpose (Ctrl-C): not a network failure to report. */
export function isAbortError(error: unknown): boolean {
  const like = asErrorLike(error);
  return like !== null && ((error as Error).name === "AbortError" || like.code === "ABORT_ERR");
}

/**
 * fetch, with network failures (including a body cut off while it is read) as NetworkError.
 * The body is read here so that a connection dropped mid-response is reported with its
 * request too; every caller of this reads small JSON or an output file it keeps anyway.
 */
export async function fetchDescribed(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  try {
    const response = await fetch(input, init);
    const body = await response.arrayBuffer();
    return new Response(response.status === 204 || response.status === 304 ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers });
  } catch (error) {
    if (isAbortError(error)) throw error;
    throw new NetworkError(method, String(input), error);
  }
}

/** The typed tRPC client for the server. */
export function createApi(connection: Connection) {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: new URL("/api/trpc", connection.server).href,
        transformer: superjson,
        headers: () => authHeaders(connection),
        // tRPC passes the message of what fetch threw through as its own: ours names the request.
        fetch: (input, init) => fetchDescribed(input instanceof Request ? input.url : input, init as RequestInit | undefined),
      }),
    ],
  });
}
export type Api = ReturnType<typeof createApi>;

/** Options every command accepts (parseArgs is strict about the rest). */
export const CONNECTION_OPTIONS = { server: { type: "string" }, "api-key": { type: "string" } } as const;
