import { createCallerFactory, router } from "./init";
import { jobsRouter } from "./routers/jobs-router";
import { systemRouter } from "./routers/system-router";

export const appRouter = router({ jobs: jobsRouter, system: systemRouter });

/** The router's type, for typed clients (`createTRPCClient<AppRouter>`). */
export type AppRouter = typeof appRouter;

/** Calls procedures without HTTP (tests, scripts). */
export const createCaller = createCallerFactory(appRouter);
