import http from "node:http";
import { TRPCError } from "@trpc/server";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import type { App } from "../app";
import { registerAsyncTranscribeRoutes } from "../api/rest/async-transcribe-routes";
import { registerHealthRoutes } from "../api/rest/health-routes";
import { registerUploadRoutes } from "../api/rest/upload-routes";
import { registerV2Routes } from "../api/rest/v2-jobs-routes";
import { appRouter } from "../api/trpc/root";
import { AppError, describeError } from "../errors";
import { assertApiKey, assertAuthorized } from "./auth";
import { redactUrl, sendError, sendJson, v2ErrorShape } from "./respond";
import { Router } from "./router";

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

  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PREFIX}/`,
    // Checked here rather than before the handler so a missing key is a tRPC error (401 with
    // the tRPC body) that typed clients, the dashboard included, can recognise.
    createContext: ({ req, info }) => {
      try {
        // An EventSource (the dashboard's live views) cannot send headers: tRPC passes the
        // key as a connection parameter instead.
        const token = info.connectionParams?.token;
        if (req.headers.authorization === undefined && token !== undefined) assertApiKey(token, app.config.apiKeys);
        else assertAuthorized(req, app.config.apiKeys);
      } catch (error) {
        if (error instanceof AppError) throw new TRPCError({ code: "UNAUTHORIZED", message: error.message, cause: error });
        throw error;
      }
      return { app };
    },
  });

  const server = http.createServer((req, res) => {
    const handle = async () => {
      // Inside the handler's catch: a request target the URL parser refuses (`//`, `//a b`,
      // `http://[`) is the client's mistake, a 400, and must never throw past this point.
      const url = parseRequestTarget(req.url);
      if (url.pathname === TRPC_PREFIX || url.pathname.startsWith(`${TRPC_PREFIX}/`)) {
        await trpc(req, res);
        return;
      }
      const match = router.match(req.method ?? "GET", url.pathname);
      if (match === "method-not-allowed") throw new AppError("BAD_REQUEST", `Method ${req.method} is not allowed on ${url.pathname}`);
      if (match) {
        await match.handler({ req, res, params: match.params, url });
        return;
      }
      if (fallback) {
        await fallback(req, res);
        return;
      }
      sendJson(res, 404, { code: 404, error: "Not found", detail: `No route for ${req.method} ${url.pathname}` });
    };
    handle().catch((error: unknown) => {
      if (!(error instanceof AppError)) app.logger.error("unhandled request error", { url: redactUrl(req.url), error: describeError(error) });
      sendError(res, req, error, v2ErrorShape, app.logger);
    });
  });
  // Uploads of large media can take long; only idle sockets time out.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return server;
}

/** The request's path and query, or BAD_REQUEST when the request target cannot be parsed. */
export function parseRequestTarget(target: string | undefined): URL {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    throw new AppError("BAD_REQUEST", "The request target is not a valid URL path");
  }
}
