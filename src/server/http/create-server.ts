import http from "node:http";
import { TRPCError } from "@trpc/server";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import type { App } from "../app";
import { registerAsyncTranscribeRoutes } from "../api/rest/async-transcribe-routes";
import { registerHealthRoutes } from "../api/rest/health-routes";
import { registerOpenAiRoutes } from "../api/rest/openai-routes";
import { registerMetricsRoutes } from "../api/rest/metrics-routes";
import { registerUploadRoutes } from "../api/rest/upload-routes";
import { registerV2Routes } from "../api/rest/v2-jobs-routes";
import { appRouter } from "../api/trpc/root";
import { AppError, describeError } from "../errors";
import { observeRequest } from "../observability/access-log";
import { noteRoute } from "../observability/request-notes";
import { authenticate, authenticateKey } from "./auth";
import { asyncErrorShape, openAiErrorShape, redactUrl, sendError, sendJson, v2ErrorShape, type ErrorShape } from "./respond";
import { Router } from "./router";
import { setBaselineHeaders, setDashboardHeaders } from "./security-headers";

/** Serves requests the API does not own (the Next.js dashboard), if any. */
export type FallbackHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

const TRPC_PREFIX = "/api/trpc";

/**
 * One HTTP server for everything: the REST APIs and tRPC are answered here directly (one
 * module graph with the dispatcher, streaming uploads, no framework overhead on the hot
 * path); every other path goes to the dashboard.
 */
export function createHttpServer(app: App, fallback?: FallbackHandler): http.Server {
  const router = new Router();
  registerHealthRoutes(router, app);
  registerV2Routes(router, app);
  registerAsyncTranscribeRoutes(router, app);
  registerUploadRoutes(router, app);
  registerOpenAiRoutes(router, app);
  registerMetricsRoutes(router, app);

  const trpc = createHTTPHandler({
    router: appRouter,
    // Read as it arrives and refused (413) past the limit, never buffered whole.
    maxBodySize: app.config.maxJsonBodyBytes,
    basePath: `${TRPC_PREFIX}/`,
    // Checked here rather than before the handler so a missing key is a tRPC error (401 with
    // the tRPC body) that typed clients, the dashboard included, can recognise.
    createContext: ({ req, info }) => {
      try {
        // An EventSource (the dashboard's live views) cannot send headers: tRPC passes the
        // key as a connection parameter instead.
        const token = info.connectionParams?.token;
        const principal = req.headers.authorization === undefined && token !== undefined ? authenticateKey(token, app.config.apiKeys) : authenticate(req, app.config.apiKeys);
        return { app, principal };
      } catch (error) {
        if (error instanceof AppError) throw new TRPCError({ code: "UNAUTHORIZED", message: error.message, cause: error });
        throw error;
      }
    },
  });

  const server = http.createServer((req, res) => {
    setBaselineHeaders(res);
    observeRequest(req, res, app);
    const handle = async () => {
      // Inside the handler's catch: a request target the URL parser refuses (`//`, `//a b`,
      // `http://[`) is the client's mistake, a 400, and must never throw past this point.
      const url = parseRequestTarget(req.url);
      assertNotCrossSite(req);
      limitBodyIdleTime(req, app.config.http.bodyIdleTimeoutMs);
      if (url.pathname === TRPC_PREFIX || url.pathname.startsWith(`${TRPC_PREFIX}/`)) {
        noteRoute(res, `${TRPC_PREFIX}/:procedure`);
        await trpc(req, res);
        return;
      }
      const match = router.match(req.method ?? "GET", url.pathname);
      if (match === "method-not-allowed") throw new AppError("BAD_REQUEST", `Method ${req.method} is not allowed on ${url.pathname}`);
      if (match) {
        noteRoute(res, match.template, match.params);
        await match.handler({ req, res, params: match.params, url });
        return;
      }
      // API paths never reach the dashboard: a client of an API gets that API's JSON 404, not
      // an HTML page (or a Next.js "Server Action" error for a POST).
      const family = apiFamilyOf(url.pathname);
      if (fallback && family === null) {
        setDashboardHeaders(res);
        noteRoute(res, "(dashboard)");
        await fallback(req, res);
        return;
      }
      sendNotFound(res, family ?? "v2", `No route for ${req.method} ${url.pathname}`);
    };
    handle().catch((error: unknown) => {
      if (!(error instanceof AppError)) app.logger.error("unhandled request error", { url: redactUrl(req.url), error: describeError(error) });
      // Refused before any route ran (method not allowed, cross-site, a bad target): still in
      // the error shape of the API the path belongs to, which its clients parse.
      sendError(res, req, error, ERROR_SHAPES[familyOfTarget(req.url)], app.logger);
    });
  });
  // A request must arrive whole within HTTP_REQUEST_TIMEOUT_MS (a large upload on a slow link
  // takes long; answering, e.g. a synchronous transcription, is not counted), and a body
  // that stops arriving is cut after HTTP_BODY_IDLE_TIMEOUT_MS (limitBodyIdleTime).
  server.requestTimeout = app.config.http.requestTimeoutMs;
  server.headersTimeout = Math.min(60_000, app.config.http.requestTimeoutMs);
  server.keepAliveTimeout = 65_000;
  return server;
}

/** Which API a path belongs to (its error shape), or null for the dashboard's pages. */
export type ApiFamily = "v2" | "async" | "openai";

export function apiFamilyOf(pathname: string): ApiFamily | null {
  if (pathname === "/v1" || pathname.startsWith("/v1/")) return "openai";
  if (/^\/(v2|api)(\/|$)/.test(pathname)) return "v2";
  if (/^\/transcribe-/.test(pathname)) return "async";
  return null;
}

const ERROR_SHAPES: Record<ApiFamily, ErrorShape> = { v2: v2ErrorShape, async: asyncErrorShape, openai: openAiErrorShape };

/** The API family of a raw request target, v2 when it has none or cannot be parsed. */
function familyOfTarget(target: string | undefined): ApiFamily {
  try {
    return apiFamilyOf(new URL(target ?? "/", "http://localhost").pathname) ?? "v2";
  } catch {
    return "v2";
  }
}

function sendNotFound(res: http.ServerResponse, family: ApiFamily, message: string): void {
  if (family === "openai") {
    // OpenAI's error shape, which its SDKs parse.
    sendJson(res, 404, { error: { message, type: "invalid_request_error", param: null, code: "not_found" } });
  } else if (family === "async") {
    sendJson(res, 404, { error: message, message: "Check the request path." });
  } else {
    sendJson(res, 404, { code: 404, error: "Not found", detail: message });
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * FORBIDDEN for a state-changing request a browser sent on behalf of another site: without
 * API keys, a form on any page could otherwise create jobs on a server its visitor can
 * reach. Browsers say where a request comes from in Sec-Fetch-Site; older ones only in
 * Origin, compared with the host the request was sent to. Clients that are not browsers
 * send neither and pass.
 */
export function assertNotCrossSite(req: http.IncomingMessage): void {
  if (SAFE_METHODS.has(req.method ?? "GET")) return;
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) {
    // "none" is the user's own action (typed URL, bookmark).
    if (site === "same-origin" || site === "none") return;
    throw new AppError("FORBIDDEN", "Cross-site requests may not change anything on this server");
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = firstHeader(req.headers["x-forwarded-host"]) ?? req.headers.host;
  let originHost: string | null = null;
  try {
    originHost = origin === "null" ? null : new URL(origin).host;
  } catch {
    originHost = null;
  }
  if (originHost === null || originHost !== host) throw new AppError("FORBIDDEN", "Cross-site requests may not change anything on this server");
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first?.split(",")[0]?.trim() || undefined;
}

/**
 * Closes the connection when a request body goes `idleMs` without a byte (a client that
 * stalled or vanished without closing): the socket's inactivity timeout, on only while a
 * body is arriving, so a response that takes long to prepare is not cut. Closing it aborts
 * the upload, which then removes its partial file.
 */
function limitBodyIdleTime(req: http.IncomingMessage, idleMs: number): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (!hasBody || req.complete) return;
  const socket = req.socket;
  socket.setTimeout(idleMs);
  const stop = () => socket.setTimeout(0);
  req.once("end", stop);
  req.once("close", stop);
}

/** The request's path and query, or BAD_REQUEST when the request target cannot be parsed. */
export function parseRequestTarget(target: string | undefined): URL {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    throw new AppError("BAD_REQUEST", "The request target is not a valid URL path");
  }
}
