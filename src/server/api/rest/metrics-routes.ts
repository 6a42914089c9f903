import type { App } from "../../app";
import { authenticateOperator } from "../../http/auth";
import { sendText, v2ErrorShape } from "../../http/respond";
import type { Router } from "../../http/router";
import { PROMETHEUS_CONTENT_TYPE } from "../../observability/metrics";
import { guardedRoute } from "./guard";

/**
 * GET /metrics in Prometheus's text format. With API_KEYS set, only an operator key may read
 * it (401 without a key, 403 with a user's): it shows every user's traffic.
 */
export function registerMetricsRoutes(router: Router, app: App): void {
  const guard = guardedRoute(app, v2ErrorShape, (ctx) => authenticateOperator(ctx.req, app.config.apiKeys));
  router.on(
    "GET",
    "/metrics",
    guard(async ({ res }) => {
      sendText(res, 200, await app.metrics.render(), PROMETHEUS_CONTENT_TYPE, { "cache-control": "no-store" });
    }),
  );
}
