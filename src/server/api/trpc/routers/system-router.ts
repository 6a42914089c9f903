import { z } from "zod";
import { readThroughput, throughputInputSchema } from "../../../services/throughput";
import { publicProcedure, router } from "../init";

/** Capacity and engine health for the dashboard. */
export const systemRouter = router({
  capacity: publicProcedure.query(async ({ ctx }) => {
    const [engines, queuedJobs, lanes, remote] = await Promise.all([
      ctx.app.asr.capacity(),
      ctx.app.jobs.queueDepth(),
      ctx.app.scheduler.snapshots(),
      ctx.app.remote ? ctx.app.remote.queueStats() : null,
    ]);
    return { ...engines, queuedJobs, lanes, engine: ctx.app.engine.info, engineError: ctx.app.engine.error, remote };
  }),
  /** Jobs done and failed, and seconds of media done, per time slice of the recent past (the capacity chart). */
  throughput: publicProcedure
    .input(throughputInputSchema.default({ windowMinutes: 60, buckets: 30 }))
    .query(({ ctx, input }) => readThroughput(ctx.app.database.prisma, input)),
  media: publicProcedure.input(z.object({ id: z.string().min(1) })).query(async ({ ctx, input }) => {
    const media = await ctx.app.media.get(input.id);
    return { id: media.id, originalName: media.originalName, sizeBytes: Number(media.sizeBytes), durationS: media.durationS, format: media.format, uri: ctx.app.media.uri(media) };
  }),
});
