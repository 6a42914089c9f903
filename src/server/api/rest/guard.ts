import type { App } from "../../app";
import { assertAuthorized } from "../../http/auth";
import { drainRequest } from "../../http/multipart";
import { sendError, type ErrorShape } from "../../http/respond";
import type { RouteContext, RouteHandler } from "../../http/router";

/**
 * Wraps an API route: checks the API key, and turns any error into the API family's error
 * body. A request rejected mid-upload is read out first so the client receives the answer.
 */
export function guardedRoute(app: App, shape: ErrorShape) {
  return (handler: (ctx: RouteContext) => Promise<void>): RouteHandler =>
    async (ctx) => {
      try {
        assertAuthorized(ctx.req, app.config.apiKeys);
        await handler(ctx);
      } catch (error) {
        await drainRequest(ctx.req);
        sendError(ctx.res, ctx.req, error, shape, app.logger);
      }
    };
}
