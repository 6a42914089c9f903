import type { MediaService } from "../services/media-service";
import type { JobStore } from "./job-store";

/** Jobs deleted per prune at most: a backlog is worked off over several settles, none of them long. */
const PRUNE_BATCH = 500;

/**
 * Keeps at most `maxJobs` finished top-level jobs (SM_BATCH_WORKER_MAX_JOB_HISTORY); older
 * ones are deleted with their children, transcripts, logs and no-longer-referenced media.
 * Returns the number of jobs deleted.
 */
export async function pruneJobHistory(store: JobStore, media: MediaService, maxJobs: number): Promise<number> {
  if (maxJobs <= 0) return 0;
  const stale = await store.finishedBeyond(maxJobs, PRUNE_BATCH);
  if (stale.length === 0) return 0;
  const { deleted, mediaFileIds } = await store.deleteFinished(stale);
  await media.deleteOrphans(mediaFileIds);
  return deleted.length;
}
