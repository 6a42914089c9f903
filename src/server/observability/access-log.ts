import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../logger";
import type { Metrics } from "./app-metrics";
import { notesOf } from "./request-notes";

/** A request that matched no route: one label value, however many paths clients try. */
export const UNMATCHED_ROUTE = "(unmatched)";

/** Probes and scrapes arrive every few seconds: their lines are debug, so they don't bury the rest. */
const QUIET_ROUTES = new Set(["/live", "/ready", "/metrics"]);
/** The dashboard's scripts and styles: a page load fetches dozens. */
const QUIET_PREFIX = "/_next/";

/**
 * Writes one access-log line per request once its response has finished or its connection
 * closed, and counts it in the HTTP metrics: method, path (never the query string, which
 * may carry a key), route template, status, milliseconds, bytes (when the response declared
 * them) and the job it concerns.
 */
export function observeRequest(req: IncomingMessage, res: ServerResponse, deps: { logger: Logger; metrics: Metrics }): void {
  const started = performance.now();
  let done = false;
  const finish = (aborted: boolean) => {
    if (done) return;
    done = true;
    const seconds = (performance.now() - started) / 1000;
    const { route = UNMATCHED_ROUTE, jobId } = notesOf(res);
    // A client that went away before any answer: nginx's 499, so it is not counted as a 200.
    const status = aborted && !res.headersSent ? 499 : res.statusCode;
    const method = req.method ?? "GET";
    deps.metrics.httpRequest(route, method, status, seconds);
    const length = Number(res.getHeader("content-length"));
    const fields = {
      method,
      path: pathOf(req.url),
      route,
      status,
      ms: Math.round(seconds * 10_000) / 10,
      ...(Number.isFinite(length) ? { bytes: length } : {}),
      ...(jobId !== undefined ? { jobId } : {}),
      ...(aborted ? { aborted: true } : {}),
    };
    if (QUIET_ROUTES.has(route) || fields.path.startsWith(QUIET_PREFIX)) deps.logger.debug("request", fields);
    else deps.logger.info("request", fields);
  };
  res.once("finish", () => finish(false));
  res.once("close", () => finish(!res.writableFinished));
}

/** The path of a request target without its query string or fragment. */
export function pathOf(target: string | undefined): string {
  const raw = target ?? "/";
  const end = raw.search(/[?#]/);
  // Capped: a line per request stays a line, whatever a client sends.
  return (end === -1 ? raw : raw.slice(0, end)).slice(0, 1000);
}
