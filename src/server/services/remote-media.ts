/**
 * Media by URL: `http(s)://` fetched through the SSRF-guarded outbound client, `s3://bucket/key`
 * read with the AWS SDK, both streamed into the blob store under the upload size limit (the
 * same `MediaService.stage` an upload goes through). Every failure is a 400 naming the URL
 * with its credentials masked, never a 500 or a stack trace.
 */
import type { ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import { createAwsClients } from "../aws/aws-env";
import type { AppConfig } from "../env";
import { AppError } from "../errors";
import { HEADER_NAME, headerLinesToObject, redactHeaderLines, splitHeaderLine } from "../net/header-lines";
import { OutboundRefusedError, OutboundTimeoutError, outboundRequest, redactOutboundUrl, type OutboundResponse } from "../net/outbound-http";
import type { MediaService, StagedMedia } from "./media-service";

/** Header lines as the vendor's `auth_headers` gives them: "Name: value". */
export const authHeaderLinesSchema = z.array(z.string().max(8192)).max(32);

/** The vendor v2 `fetch_data` object (inside the job's config JSON). */
export const fetchDataSchema = z.object({
  url: z.string({ error: "fetch_data.url is required" }).min(1, "fetch_data.url is required").max(8192),
  auth_headers: authHeaderLinesSchema.optional(),
});
export type FetchData = z.infer<typeof fetchDataSchema>;

/**
 * The config as stored and shown in job details: fetch_data's header values and the URL's
 * credentials masked (the header names stay, so a user can see which were sent).
 */
export function redactFetchData<T extends Record<string, unknown>>(config: T): T {
  const fetchData = config.fetch_data as { url?: unknown; auth_headers?: unknown } | null | undefined;
  if (!fetchData || typeof fetchData !== "object") return config;
  return {
    ...config,
    fetch_data: {
      ...fetchData,
      ...(typeof fetchData.url === "string" ? { url: redactOutboundUrl(fetchData.url) } : {}),
      ...(Array.isArray(fetchData.auth_headers) ? { auth_headers: redactHeaderLines(fetchData.auth_headers) } : {}),
    },
  };
}

/** Media URLs one tRPC batch may name. */
export const MAX_MEDIA_URLS = 1000;
/** Downloads at once for a list of URLs. */
const FETCH_CONCURRENCY = 4;

export type StageFromUrlOptions = {
  /** Sent with the request (and only to the URL's own origin, not across a redirect). */
  authHeaders?: Record<string, string>;
  /** The owner of the media (see ownerFor). */
  userId: string | null;
  signal?: AbortSignal;
};

type Deps = { media: MediaService; config: Pick<AppConfig, "outbound" | "blobStore" | "sqs" | "aws" | "maxUploadBytes"> };

/** "Name: value" lines to a header object; a malformed line is a 400 (it would be a header injection). */
export function parseAuthHeaders(lines: readonly string[] | undefined, field = "auth_headers"): Record<string, string> {
  for (const line of lines ?? []) {
    const parts = splitHeaderLine(line);
    if (!parts || !HEADER_NAME.test(parts.name) || /[\r\n\0]/.test(parts.value)) throw new AppError("BAD_REQUEST", `${field}: each entry must be a "Name: value" header line`);
  }
  return headerLinesToObject(lines ?? []);
}

/** The media's name: Content-Disposition's filename, else the URL path's last segment. */
export function remoteFileName(url: string, contentDisposition: string | undefined): string {
  const fromHeader = contentDisposition ? filenameOfDisposition(contentDisposition) : null;
  if (fromHeader) return fromHeader;
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // s3://bucket/key: the key as written
    path = url.replace(/^s3:\/\/[^/]*/, "").replace(/[?#].*$/, "");
  }
  const last = path.split("/").filter(Boolean).pop() ?? "";
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    // a stray % is kept as written
  }
  return name || "download";
}

function filenameOfDisposition(header: string): string | null {
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (extended) {
    try {
      return decodeURIComponent(extended[2]!.trim());
    } catch {
      // fall back to the plain parameter
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
  const value = plain ? (plain[1]?.replace(/\\(.)/g, "$1") ?? plain[2]?.trim()) : null;
  return value || null;
}

export class RemoteMedia {
  private s3: S3Client | null = null;

  constructor(private readonly deps: Deps) {}

  /** Fetches `url` (http, https or s3) into the blob store; the row is returned unwritten, as from an upload. */
  async stageFromUrl(url: string, options: StageFromUrlOptions): Promise<StagedMedia> {
    const shown = redactOutboundUrl(url);
    const timeoutMs = this.deps.config.outbound.mediaFetchTimeoutMs;
    // Our own deadline as well as outboundRequest's: it tells a timeout from other failures
    // wherever it strikes (connect, headers, or halfway through the body being stored).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new OutboundTimeoutError(timeoutMs)), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    let source: Source | undefined;
    try {
      source = /^s3:\/\//i.test(url) ? await this.openS3(url, shown, signal) : await this.openHttp(url, shown, options.authHeaders ?? {}, signal, timeoutMs);
      return await this.deps.media.stage(source.body, { originalName: source.name, contentType: source.contentType, userId: options.userId }, signal);
    } catch (error) {
      // The store stops reading at the size limit: close the connection rather than leave it paused.
      source?.body.destroy();
      if (deadline.signal.aborted) throw new AppError("BAD_REQUEST", `Fetching ${shown} failed: no complete download within ${timeoutMs} ms (MEDIA_FETCH_TIMEOUT_MS)`);
      if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new AppError("BAD_REQUEST", "The request was aborted");
      throw asFetchError(error, shown);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Fetches every URL (FETCH_CONCURRENCY at a time) and records their rows, in the order
   * given. The first failure stops the rest and is thrown; nothing is recorded then (the
   * blobs already stored are left to the unreferenced-blob sweep, as a refused upload's are).
   */
  async recordFromUrls(urls: readonly string[], options: Omit<StageFromUrlOptions, "authHeaders">): Promise<string[]> {
    if (urls.length > MAX_MEDIA_URLS) throw new AppError("BAD_REQUEST", `At most ${MAX_MEDIA_URLS} media URLs per request`);
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const staged: StagedMedia[] = new Array(urls.length);
    let next = 0;
    let failure: unknown = null;
    const worker = async () => {
      while (failure === null && next < urls.length) {
        const index = next++;
        try {
          staged[index] = await this.stageFromUrl(urls[index]!, { ...options, signal });
        } catch (error) {
          if (failure === null) {
            failure = error;
            stop.abort(error);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, urls.length) }, worker));
    if (failure !== null) throw failure;
    const ids: string[] = [];
    for (const one of staged) ids.push((await this.deps.media.record(one)).id);
    return ids;
  }

  private async openHttp(url: string, shown: string, headers: Record<string, string>, signal: AbortSignal, timeoutMs: number): Promise<Source> {
    let response: OutboundResponse;
    try {
      response = await outboundRequest({ url, headers, timeoutMs, signal }, { allowHosts: this.deps.config.outbound.allowHosts });
    } catch (error) {
      if (error instanceof OutboundRefusedError) throw new AppError("BAD_REQUEST", `Fetching ${shown} refused: ${error.message}`);
      throw error;
    }
    if (response.status < 200 || response.status > 299) {
      response.body.destroy();
      throw new AppError("BAD_REQUEST", `Fetching ${shown} failed: HTTP ${response.status}`);
    }
    // A declared size over the limit is refused before a byte is stored; the store enforces
    // the limit again while streaming (a length header can be absent or wrong).
    const declared = Number(response.headers["content-length"]);
    const limit = this.deps.config.maxUploadBytes;
    if (Number.isFinite(declared) && declared > limit) {
      response.body.destroy();
      throw new AppError("PAYLOAD_TOO_LARGE", `Fetching ${shown} failed: the file is larger than the upload limit of ${limit} bytes (MAX_UPLOAD_BYTES)`);
    }
    return { body: response.body, name: remoteFileName(response.url, response.headers["content-disposition"]), contentType: response.headers["content-type"] ?? null };
  }

  private async openS3(url: string, shown: string, signal: AbortSignal): Promise<Source> {
    const config = this.deps.config;
    if (config.blobStore.kind !== "s3" && !config.sqs) throw new AppError("BAD_REQUEST", "s3:// URLs need S3 configured (BLOB_STORE=s3)");
    const match = /^s3:\/\/([^/]+)\/(.+)$/is.exec(url);
    if (!match) throw new AppError("BAD_REQUEST", `${shown} is not an s3://bucket/key URL`);
    const [, bucket, key] = match as unknown as [string, string, string];
    this.s3 ??= createAwsClients(config.aws).s3;
    let object;
    try {
      object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw error;
      const name = (error as { name?: string }).name ?? "error";
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const reason = name === "NoSuchKey" || status === 404 ? "no such object" : name === "NoSuchBucket" ? "no such bucket" : status === 403 ? "access denied" : name;
      throw new AppError("BAD_REQUEST", `Reading ${shown} failed: ${reason}`);
    }
    if (!(object.Body instanceof Readable)) throw new AppError("BAD_REQUEST", `Reading ${shown} failed: no body`);
    const limit = config.maxUploadBytes;
    if (object.ContentLength !== undefined && object.ContentLength > limit) {
      object.Body.destroy();
      throw new AppError("PAYLOAD_TOO_LARGE", `Reading ${shown} failed: the file is larger than the upload limit of ${limit} bytes (MAX_UPLOAD_BYTES)`);
    }
    return { body: object.Body, name: remoteFileName(url, object.ContentDisposition), contentType: object.ContentType ?? null };
  }
}

type Source = { body: Readable; name: string; contentType: string | null };

/** Every failure as an AppError that names the (redacted) URL; storage limits keep their code. */
function asFetchError(error: unknown, shown: string): AppError {
  if (error instanceof AppError) {
    return error.message.includes(shown) ? error : new AppError(error.code, `Fetching ${shown} failed: ${error.message}`, error.details);
  }
  if (error instanceof OutboundRefusedError) return new AppError("BAD_REQUEST", `Fetching ${shown} refused: ${error.message}`);
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason = code ? (NETWORK_REASONS[code] ?? code) : error instanceof Error ? error.message : String(error);
  return new AppError("BAD_REQUEST", `Fetching ${shown} failed: ${reason}`);
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate cannot be verified",
};

const instances = new WeakMap<object, RemoteMedia>();

/** One RemoteMedia per app (it keeps an S3 client once one is needed). */
export function remoteMediaOf(app: Deps): RemoteMedia {
  let found = instances.get(app.media);
  if (!found) {
    found = new RemoteMedia({ media: app.media, config: app.config });
    instances.set(app.media, found);
  }
  return found;
}
