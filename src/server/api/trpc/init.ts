import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import type { Principal } from "../../access";
import type { App } from "../../app";
import { AppError, describeError, type AppErrorCode } from "../../errors";

/** Per-request context: the application and the caller, authenticated before tRPC runs. */
export type TrpcContext = { app: App; principal: Principal };

const TRPC_CODE: Record<AppErrorCode, TRPCError["code"]> = {
  BAD_REQUEST: "BAD_REQUEST",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  UNSUPPORTED_MEDIA: "UNSUPPORTED_MEDIA_TYPE",
  BUSY: "SERVICE_UNAVAILABLE",
  // tRPC has no 507; like 503 it tells the client to come back later.
  INSUFFICIENT_STORAGE: "SERVICE_UNAVAILABLE",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  TIMEOUT: "TIMEOUT",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

const t = initTRPC.context<TrpcContext>().create({
  transformer: superjson,
  // Never ship stack traces to clients, whatever NODE_ENV says.
  isDev: false,
  // Live views (server-sent events): a ping every 15 s keeps proxies from closing a quiet
  // stream, and a client that hears nothing for 40 s reconnects.
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 40_000 } },
  errorFormatter({ shape, error }) {
    const appCode = error.cause instanceof AppError ? error.cause.code : undefined;
    return { ...shape, data: { code: shape.data.code, httpStatus: shape.data.httpStatus, path: shape.data.path, appCode } };
  },
});

/** Maps AppErrors to tRPC codes (keeping the message) and hides everything else behind a generic 500. */
const mapErrors = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: TRPC_CODE[cause.code], message: cause.message, cause });
    }
    if (result.error.code === "INTERNAL_SERVER_ERROR") {
      ctx.app.logger.error("tRPC procedure failed", { path, error: describeError(cause ?? result.error) });
      throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "Internal error" });
    }
  }
  return result;
});

/** Gives procedures the job system as their caller sees it (a user: only their own jobs and files). */
const scopeToCaller = t.middleware(({ ctx, next }) => next({ ctx: { jobs: ctx.app.jobsFor(ctx.principal) } }));

export const router = t.router;
/** Every procedure: errors mapped, and `ctx.jobs` scoped to the caller. */
export const publicProcedure = t.procedure.use(mapErrors).use(scopeToCaller);
export const createCallerFactory = t.createCallerFactory;
