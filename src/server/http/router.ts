import type { IncomingMessage, ServerResponse } from "node:http";
import { AppError } from "../errors";

export type RouteContext = {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
};
export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

type Route = { method: string; path: string; pattern: RegExp; keys: string[]; handler: RouteHandler };

/** A small method + path router; `:name` segments become params. */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, path: string, handler: RouteHandler): this {
    const keys: string[] = [];
    const source = path.replace(/:([a-zA-Z_]+)/g, (_match, key: string) => {
      keys.push(key);
      return "([^/]+)";
    });
    this.routes.push({ method, path, pattern: new RegExp(`^${source}/?$`), keys, handler });
    return this;
  }

  /**
   * The handler for a request and the route's template ("/v2/jobs/:id", what logs and metrics
   * name it by), or "method-not-allowed" when only the path matches, or null.
   */
  match(method: string, pathname: string): { handler: RouteHandler; params: Record<string, string>; template: string } | "method-not-allowed" | null {
    let pathMatched = false;
    for (const route of this.routes) {
      const found = route.pattern.exec(pathname);
      if (!found) continue;
      pathMatched = true;
      if (route.method !== method && !(route.method === "GET" && method === "HEAD")) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, index) => {
        params[key] = decodePathSegment(found[index + 1] ?? "");
      });
      return { handler: route.handler, params, template: route.path };
    }
    return pathMatched ? "method-not-allowed" : null;
  }
}

/** A `%`-escaped path segment, decoded; a malformed escape is the client's error (400), not ours. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError("BAD_REQUEST", `The path segment "${segment.slice(0, 100)}" has a malformed %-escape`);
  }
}
