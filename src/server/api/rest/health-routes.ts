import type { App } from "../../app";
import { describeError } from "../../errors";
import { sendJson } from "../../http/respond";
import type { Router } from "../../http/router";

/** GET /jobs, /live, /ready of the batch worker spec (Kubernetes probes). */
export function registerHealthRoutes(router: Router, app: App): void {
  router.on("GET", "/jobs", async ({ res }) => {
    const [capacity, queued] = await Promise.all([app.asr.capacity(), app.jobs.queueDepth()]);
    sendJson(res, 200, {
      active_jobs: capacity.activeJobs.map((job) => ({ job_id: job.jobId, parallel_engines: job.parallelEngines })),
      max_engines: capacity.maxEngines,
      unused_engines: capacity.unusedEngines,
      queued_jobs: queued,
      engine: app.engine.info ? { name: app.engine.info.name, model: app.engine.info.model, provider: app.engine.info.provider } : null,
    });
  });

  router.on("GET", "/live", async ({ res }) => {
    const problems: string[] = [];
    if (app.engine.error) problems.push(`engine: ${app.engine.error}`);
    if (app.remote) {
      try {
        await app.remote.queueStats();
      } catch (error) {
        problems.push(`sqs: ${describeError(error)}`);
      }
    }
    try {
      await app.database.prisma.$queryRawUnsafe("SELECT 1");
    } catch (error) {
      problems.push(`database: ${describeError(error)}`);
    }
    if (problems.length) sendJson(res, 503, { live: false, reasons: problems });
    else sendJson(res, 200, { live: true });
  });

  router.on("GET", "/ready", async ({ res }) => {
    const capacity = await app.asr.capacity();
    const ready = capacity.unusedEngines > 0 && !app.engine.error;
    sendJson(res, ready ? 200 : 503, { ready, engines_used: capacity.usedEngines });
  });
}
