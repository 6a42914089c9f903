import type { App } from "../../app";
import { assertAuthorized } from "../../http/auth";
import { drainRequest } from "../../http/multipart";
import { sendError, type ErrorShape } from "../../http/respond";
import type { RouteContext, RouteHandler } from "../../http/router";

/** Throws UNAUTHORIZED when the request may not use the route. */
export type Authorize = (ctx: RouteContext) => void;

/**
 * Wraps an API route: checks the API key (by default the Authorization header), and turns
 * any error into the API family's error body. A request rejected mid-upload is read out
 * first so the client receives the answer.
 */
export function guardedRoute(app: App, shape: ErrorShape, authorize: Authorize = (ctx) => assertAuthorized(ctx.req, app.config.apiKeys)) {
  return (handler: (ctx: RouteContext) => Promise<void>): RouteHandler =>
    async (ctx) => {
      try {
        authorize(ctx);
        await handler(ctx);
      } catch (error) {
        await drainRequest(ctx.req);
        sendError(ctx.res, ctx.req, error, shape, app.logger);
      }
    };
}
