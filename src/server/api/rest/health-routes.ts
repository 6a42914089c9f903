import type { App } from "../../app";
import { describeError } from "../../errors";
import { authenticate } from "../../http/auth";
import { sendJson } from "../../http/respond";
import { DESCRIPTOR_ALARM_SHARE, descriptorUsage } from "../../process-health";
import type { Router } from "../../http/router";

/** GET /jobs, /live, /ready of the batch worker spec (Kubernetes probes). */
export function registerHealthRoutes(router: Router, app: App): void {
  // /jobs lists job ids: with API keys it needs one. /live and /ready stay open for probes.
  router.on("GET", "/jobs", async ({ req, res }) => {
    const principal = authenticate(req, app.config.apiKeys);
    const [capacity, queued] = await Promise.all([app.asr.capacity(), app.jobs.queueDepth()]);
    // Engine counts are everyone's; the ids of the jobs holding them only their owners'.
    const visible = await app.jobsFor(principal).visibleJobIds(capacity.activeJobs.map((job) => job.jobId));
    sendJson(res, 200, {
      active_jobs: capacity.activeJobs.filter((job) => visible.has(job.jobId)).map((job) => ({ job_id: job.jobId, parallel_engines: job.parallelEngines })),
      max_engines: capacity.maxEngines,
      unused_engines: capacity.unusedEngines,
      queued_jobs: queued,
      engine: app.engine.info ? { name: app.engine.info.name, model: app.engine.info.model, provider: app.engine.info.provider } : null,
    });
  });

  router.on("GET", "/live", async ({ res }) => {
    const remote = app.remote;
    const checks = await Promise.all([
      remote ? probeDependency("sqs", () => remote.queueStats()) : null,
      // Prisma's own messages put the reason last; describeError finds it.
      probeDependency("database", () => app.database.prisma.$queryRawUnsafe("SELECT 1")),
    ]);
    const problems = [...(app.engine.error ? [`engine: ${app.engine.error}`] : []), ...checks.filter((problem): problem is string => problem !== null)];
    const descriptors = await descriptorUsage();
    if (descriptors && descriptors.open >= descriptors.limit * DESCRIPTOR_ALARM_SHARE) {
      problems.push(`descriptors: ${descriptors.open} of ${descriptors.limit} open (new uploads and connections will fail)`);
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

/** ms a dependency may take to answer /live: a partitioned host never refuses, and a probe must not hang with it. */
const PROBE_TIMEOUT_MS = 5000;

/** `name: reason` when `check` fails or does not answer within PROBE_TIMEOUT_MS; null when it answered. */
async function probeDependency(name: string, check: () => Promise<unknown>): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${name}: no answer within ${PROBE_TIMEOUT_MS / 1000} s`), PROBE_TIMEOUT_MS);
  });
  const answered = check().then(
    () => null,
    (error: unknown) => `${name}: ${describeError(error)}`,
  );
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}
