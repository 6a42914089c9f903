import { z } from "zod";
import { readThroughput, throughputInputSchema } from "../../../services/throughput";
import { publicProcedure, router } from "../init";
import { ownerFor } from "../../../access";
import { authHeaderLinesSchema, parseAuthHeaders, remoteMediaOf } from "../../../services/remote-media";

/** Capacity and engine health for the dashboard. */
export const systemRouter = router({
  /** Who the caller is, and their usage: a user's own; an operator's, every user's. */
  whoami: publicProcedure.query(async ({ ctx }) => ({
    principal: ctx.principal,
    usage: await ctx.jobs.usage(),
  })),
  capacity: publicProcedure.query(async ({ ctx }) => {
    const [engines, queuedJobs, lanes, remote] = await Promise.all([
      ctx.app.asr.capacity(),
      ctx.app.jobs.queueDepth(),
      ctx.app.scheduler.snapshots(),
      ctx.app.remote ? ctx.app.remote.queueStats() : null,
    ]);
    // Engine use is shared by everyone; which jobs hold the engines is shown to their owners only.
    const visible = await ctx.jobs.visibleJobIds(engines.activeJobs.map((job) => job.jobId));
    const activeJobs = engines.activeJobs.filter((job) => visible.has(job.jobId));
    return { ...engines, activeJobs, queuedJobs, lanes, engine: ctx.app.engine.info, engineError: ctx.app.engine.error, remote };
  }),
  /** Jobs done and failed, and seconds of media done, per time slice of the recent past (the capacity chart). */
  throughput: publicProcedure
    .input(throughputInputSchema.default({ windowMinutes: 60, buckets: 30 }))
    .query(({ ctx, input }) => readThroughput(ctx.app.database.prisma, input)),
  media: publicProcedure.input(z.object({ id: z.string().min(1) })).query(async ({ ctx, input }) => {
    const media = await ctx.jobs.media(input.id);
    return { id: media.id, originalName: media.originalName, sizeBytes: Number(media.sizeBytes), durationS: media.durationS, format: media.format, uri: ctx.app.media.uri(media) };
  }),
  /** Media by URL (http(s):// under the SSRF guard, or s3://), stored as an upload is: use its id in jobs.create. */
  mediaFromUrl: publicProcedure
    .input(z.object({ url: z.string().min(1).max(8192), authHeaders: authHeaderLinesSchema.optional() }))
    .mutation(async ({ ctx, input }) => {
      const staged = await remoteMediaOf(ctx.app).stageFromUrl(input.url, { authHeaders: parseAuthHeaders(input.authHeaders, "authHeaders"), userId: ownerFor(ctx.principal) });
      const media = await ctx.app.media.record(staged);
      return { id: media.id, originalName: media.originalName, sizeBytes: Number(media.sizeBytes), durationS: media.durationS, format: media.format, uri: ctx.app.media.uri(media) };
    }),
});
