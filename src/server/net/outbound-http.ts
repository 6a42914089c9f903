/**
 * Every HTTP request the server makes on a caller's behalf (media by URL, webhooks) goes
 * through here, behind the SSRF guard: the destination's addresses are checked when the
 * socket connects (a custom `lookup`), and the socket connects to exactly the addresses that
 * were checked, so a DNS answer that changes between check and connect (rebinding) cannot
 * reach an internal address. Redirects are followed by hand so that each hop is checked too.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { Readable } from "node:stream";
import { AllowList, addressRefusal } from "./address-policy";

export { addressRefusal, classifyAddress, type AddressClass } from "./address-policy";

/** From app.config.outbound.allowHosts: hostnames or CIDRs (v4/v6) exempt from the guard. */
export type OutboundPolicy = { allowHosts: readonly string[] };

/** The destination is not allowed (SSRF guard, scheme, too many redirects); the message says why. */
export class OutboundRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboundRefusedError";
  }
}

/** No complete answer (connect + headers) within `timeoutMs`, or the body outran it. */
export class OutboundTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = "OutboundTimeoutError";
  }
}

export type OutboundRequest = {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Bounds the whole exchange: connect, headers, every redirect hop, and the body stream. */
  timeoutMs: number;
  /** Default 3; webhooks pass 0 (a 3xx is then returned as is). */
  maxRedirects?: number;
  signal?: AbortSignal;
};

export type OutboundResponse = {
  status: number;
  headers: IncomingHttpHeaders;
  /** The caller must consume or destroy it; it is destroyed when timeoutMs passes overall. */
  body: Readable;
  /** The final URL after redirects. */
  url: string;
};

/** Test seam: resolves a host name to all its addresses (default: the OS resolver, like node). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export type OutboundOptions = { resolve?: Resolver };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const systemResolve: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

export async function outboundRequest(
  request: OutboundRequest,
  policy: OutboundPolicy,
  options: OutboundOptions = {},
): Promise<OutboundResponse> {
  const allow = new AllowList(policy.allowHosts);
  const resolve = options.resolve ?? systemResolve;
  const maxRedirects = request.maxRedirects ?? 3;
  let url = parseUrl(request.url);

  // One deadline for the whole exchange, linked to the caller's signal.
  const deadline = new AbortController();
  let timedOut = false;
  let returned: IncomingMessage | null = null;
  const timer = setTimeout(() => {
    timedOut = true;
    const error = new OutboundTimeoutError(request.timeoutMs);
    // A body still streaming ends with this error (not a bare "aborted") for its reader.
    returned?.destroy(error);
    deadline.abort(error);
  }, request.timeoutMs);
  const onCallerAbort = () => deadline.abort(request.signal?.reason);
  if (request.signal?.aborted) onCallerAbort();
  else request.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const release = () => {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", onCallerAbort);
  };

  let method = (request.method ?? "GET").toUpperCase();
  let body = request.body;
  let headers: Record<string, string> = { ...request.headers };
  try {
    for (let hop = 0; ; hop++) {
      const response = await send(url, method, headers, body, allow, resolve, deadline.signal).catch((error: unknown) => {
        if (timedOut) throw new OutboundTimeoutError(request.timeoutMs);
        throw error;
      });
      const location = response.headers.location;
      if (!REDIRECTS.has(response.statusCode ?? 0) || !location || maxRedirects === 0) {
        // The deadline keeps running over the body: the caller bounds its size, we bound its time.
        const done = () => release();
        response.once("close", done);
        response.once("end", done);
        returned = response;
        return { status: response.statusCode ?? 0, headers: response.headers, body: response, url: url.href };
      }
      response.destroy(); // a redirect's body is never read
      if (hop >= maxRedirects) throw new OutboundRefusedError(`too many redirects (more than ${maxRedirects})`);
      const next = parseUrl(location, url);
      const status = response.statusCode!;
      if (status === 303 || ((status === 301 || status === 302) && method === "POST")) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
        headers = withoutKeys(headers, ["content-type", "content-length", "transfer-encoding"]);
      }
      // The caller's headers (auth_headers) were meant for the origin they named, not wherever it points.
      if (next.origin !== url.origin) headers = {};
      url = next;
    }
  } catch (error) {
    release();
    throw error;
  }
}

function parseUrl(text: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new OutboundRefusedError("not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new OutboundRefusedError(`${url.protocol.replace(/:$/, "")}: URLs are not supported (only http and https)`);
  }
  return url;
}

function withoutKeys(headers: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !keys.includes(name.toLowerCase())));
}

/** Refuses `address` unless it is public or inside an allowed CIDR. */
function checkAddress(address: string, allow: AllowList, hostname: string): void {
  if (allow.allowsAddress(address)) return;
  const reason = addressRefusal(address);
  if (reason === null) return;
  const via = isIP(hostname) ? "" : ` (${hostname} resolves to it)`;
  throw new OutboundRefusedError(`${reason}${via}; list the host in OUTBOUND_ALLOW_HOSTS to allow it`);
}

/**
 * The connect-time guard: resolves the name, refuses if ANY address is not allowed, and hands
 * node only the checked addresses (in the shape it asked for: one, or all with `all: true`).
 */
function guardedLookup(allow: AllowList, resolve: Resolver, onRefused: (error: Error) => void): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    resolve(hostname).then(
      (found) => {
        try {
          if (found.length === 0) throw new OutboundRefusedError(`${hostname} has no addresses`);
          const usable = options.family ? found.filter((entry) => entry.family === options.family) : found;
          if (!allow.allowsHost(hostname)) for (const entry of found) checkAddress(entry.address, allow, hostname);
          if (usable.length === 0) throw new OutboundRefusedError(`${hostname} has no IPv${options.family} address`);
          if (options.all) callback(null, usable);
          else callback(null, usable[0]!.address, usable[0]!.family);
        } catch (error) {
          onRefused(error as Error);
          callback(error as NodeJS.ErrnoException, "", 0);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
  allow: AllowList,
  resolve: Resolver,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  // An IP literal never reaches `lookup`: check it here, before any socket exists.
  if (isIP(hostname) && !allow.allowsHost(hostname)) checkAddress(hostname, allow, hostname);
  return new Promise((resolvePromise, reject) => {
    let refused: Error | undefined;
    const transport = url.protocol === "https:" ? https : http;
    const req = transport.request({
      protocol: url.protocol,
      hostname,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method,
      headers: body === undefined ? headers : { ...withoutKeys(headers, ["content-length", "transfer-encoding"]), "content-length": String(Buffer.byteLength(body)) },
      // A fresh socket per request: a pooled one could have been checked under another policy.
      agent: false,
      lookup: guardedLookup(allow, resolve, (error) => (refused = error)),
      signal,
    });
    req.once("response", resolvePromise);
    req.once("error", (error) => reject(refused ?? error));
    req.end(body);
  });
}

/**
 * A URL fit for an error message or a log line: user:password and every query value (a
 * pre-signed URL's signature, an ?api_key=) are masked, the rest is kept so the caller can
 * tell which URL failed. Text that is not a URL is shortened rather than echoed whole.
 */
export function redactOutboundUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  }
  const userinfo = url.username || url.password ? "redacted@" : "";
  const names = [...url.searchParams.keys()];
  const query = names.length ? `?${names.map((name) => `${encodeURIComponent(name)}=[redacted]`).join("&")}` : "";
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query}${url.hash ? "#…" : ""}`;
}
