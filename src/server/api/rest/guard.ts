import type { Principal } from "../../access";
import type { App } from "../../app";
import { authenticate } from "../../http/auth";
import { drainRequest } from "../../http/multipart";
import { sendError, type ErrorShape } from "../../http/respond";
import type { RouteContext, RouteHandler } from "../../http/router";

/** Who the request is from (UNAUTHORIZED when it may not use the route). */
export type Authorize = (ctx: RouteContext) => Principal;

/** A route's context once its caller is known. */
export type ApiRouteContext = RouteContext & { principal: Principal };

/**
 * Wraps an API route: authenticates the caller (by default from the Authorization header),
 * and turns any error into the API family's error body. A request rejected mid-upload is
 * read out first so the client receives the answer.
 */
export function guardedRoute(app: App, shape: ErrorShape, authorize: Authorize = (ctx) => authenticate(ctx.req, app.config.apiKeys)) {
  return (handler: (ctx: ApiRouteContext) => Promise<void>): RouteHandler =>
    async (ctx) => {
      try {
        const principal = authorize(ctx);
        await handler({ ...ctx, principal });
      } catch (error) {
        await drainRequest(ctx.req);
        sendError(ctx.res, ctx.req, error, shape, app.logger);
      }
    };
}
