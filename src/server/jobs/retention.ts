import type { Db } from "../db/client";
import type { MediaService } from "../services/media-service";

/**
 * Keeps at most `maxJobs` finished top-level jobs (SM_BATCH_WORKER_MAX_JOB_HISTORY); older
 * ones are deleted with their children, transcripts, logs and no-longer-referenced media.
 * Returns the number of jobs deleted.
 */
export async function pruneJobHistory(db: Db, media: MediaService, maxJobs: number): Promise<number> {
  if (maxJobs <= 0) return 0;
  const stale = await db.job.findMany({
    where: { parentId: null, status: { in: ["DONE", "FAILED", "CANCELLED"] } },
    orderBy: [{ finishedAt: "desc" }, { id: "desc" }],
    skip: maxJobs,
    take: 500,
    select: { id: true },
  });
  if (stale.length === 0) return 0;
  const ids = stale.map((job) => job.id);
  const mediaIds = (await db.job.findMany({ where: { OR: [{ id: { in: ids } }, { parentId: { in: ids } }] }, select: { mediaFileId: true } }))
    .map((row) => row.mediaFileId)
    .filter((id): id is string => id !== null);
  await db.job.deleteMany({ where: { parentId: { in: ids } } });
  await db.job.deleteMany({ where: { id: { in: ids } } });
  await media.deleteOrphans(mediaIds);
  return ids.length;
}
