import { canAccess, ownerFor, type Principal } from "../access";
import type { JobLog, MediaFile } from "../db/models";
import { AppError } from "../errors";
import type { JobStore } from "../jobs/job-store";
import type { BatchResult } from "../jobs/job-types";
import type { TranscriptDocument } from "../transcripts/render-transcript";
import type { CreateBatchInput, CreateConvertInput, CreateFixSrtInput, CreateTranscriptionInput, JobService, ListJobsInput } from "./job-service";
import type { JobView } from "./job-views";
import type { MediaService } from "./media-service";

/** What a caller may ask of the job system; every API goes through it (see JobService.as). */
export type ScopedJobs = ReturnType<typeof scopeJobs>;

/**
 * The job system as one caller sees it. An operator sees everything; a user sees only what
 * they own: another user's job, batch or file is NOT_FOUND with the message an unknown id
 * gets, so ids cannot be probed. Whatever a user creates is theirs (`userId` in the input is
 * honoured only from an operator: seed 000's `user_id`).
 */
export function scopeJobs(principal: Principal, jobs: JobService, store: JobStore, media: MediaService) {
  const isOperator = principal.kind === "operator";

  async function visibleJob(id: string): Promise<JobView> {
    const job = await jobs.get(id);
    if (!canAccess(principal, job.userId)) throw new AppError("NOT_FOUND", `Job not found: ${id}`);
    return job;
  }

  /**
   * NOT_FOUND unless the caller may see the job. Before an operation that reads the job
   * itself (and answers NOT_FOUND for an unknown id): an operator sees everything, so the
   * operation's own read suffices and nothing is read twice.
   */
  async function assertVisible(id: string): Promise<void> {
    if (!isOperator) await visibleJob(id);
  }

  async function visibleMedia(id: string): Promise<MediaFile> {
    const found = await media.get(id);
    if (!canAccess(principal, found.userId)) throw new AppError("NOT_FOUND", `Media file not found: ${id}`);
    return found;
  }

  async function assertMediaVisible(ids: readonly string[]): Promise<void> {
    if (isOperator) return;
    const owners = await media.ownersOf(ids);
    // Unknown ids are left to the service, which names them; another user's look the same.
    const hidden = ids.filter((id) => owners.has(id) && !canAccess(principal, owners.get(id) ?? null));
    if (hidden.length) throw new AppError("NOT_FOUND", `Media file not found: ${hidden.slice(0, 5).join(", ")}`);
  }

  const owner = (requested: string | null | undefined) => ownerFor(principal, requested);

  return {
    principal,

    async createTranscription(input: CreateTranscriptionInput): Promise<JobView> {
      if (typeof input.media === "string") await assertMediaVisible([input.media]);
      else if (!canAccess(principal, input.media.media.userId)) throw new AppError("NOT_FOUND", `Media file not found: ${input.media.media.id}`);
      return jobs.createTranscription({ ...input, userId: owner(input.userId) });
    },

    async createBatch(input: CreateBatchInput): Promise<JobView> {
      await assertMediaVisible(input.mediaFileIds);
      return jobs.createBatch({ ...input, userId: owner(input.userId) });
    },

    async createFixSrt(input: CreateFixSrtInput): Promise<JobView> {
      if (input.sourceJobId) await assertVisible(input.sourceJobId);
      if (input.mediaFileId) await assertMediaVisible([input.mediaFileId]);
      return jobs.createFixSrt({ ...input, userId: owner(input.userId) });
    },

    async createConvert(input: CreateConvertInput): Promise<JobView> {
      await assertMediaVisible([input.mediaFileId]);
      return jobs.createConvert({ ...input, userId: owner(input.userId) });
    },

    get: visibleJob,

    list(input: Omit<ListJobsInput, "userId">): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
      return jobs.list(principal.kind === "user" ? { ...input, userId: principal.userId } : input);
    },

    async cancel(id: string): Promise<JobView> {
      await assertVisible(id);
      return jobs.cancel(id);
    },

    async retry(id: string): Promise<JobView> {
      await assertVisible(id);
      return jobs.retry(id);
    },

    async delete(id: string, opts: { force: boolean }): Promise<JobView> {
      await assertVisible(id);
      return jobs.delete(id, opts);
    },

    async saveSubtitles(id: string, srt: string): Promise<{ cues: number; editedAt: Date }> {
      await assertVisible(id);
      return jobs.saveSubtitles(id, srt);
    },

    async discardSubtitleEdits(id: string): Promise<void> {
      await assertVisible(id);
      return jobs.discardSubtitleEdits(id);
    },

    async transcript(id: string): Promise<{ job: JobView; document: TranscriptDocument; editedAt: Date | null }> {
      await assertVisible(id);
      return jobs.transcript(id);
    },

    async log(id: string): Promise<JobLog[]> {
      await assertVisible(id);
      return jobs.log(id);
    },

    async batchSummary(id: string): Promise<BatchResult & { queued: number; running: number }> {
      // The summary itself reads no job row, so an unknown id is found out here, operator or not.
      await visibleJob(id);
      return jobs.batchSummary(id);
    },

    async waitForSettled(id: string, timeoutMs: number): Promise<JobView> {
      await assertVisible(id);
      return jobs.waitForSettled(id, timeoutMs);
    },

    /** A stored file (upload or job output) the caller may read. */
    media: visibleMedia,

    /**
     * Which of `jobIds` the caller may see (the live change stream filters with it). Owners
     * never change, so the answer for an id may be cached for as long as the caller likes.
     */
    async visibleJobIds(jobIds: readonly string[]): Promise<Set<string>> {
      if (isOperator) return new Set(jobIds);
      const owners = await store.ownersOf(jobIds);
      return new Set(jobIds.filter((id) => owners.has(id) && canAccess(principal, owners.get(id) ?? null)));
    },

    /** Jobs and audio per user: the caller's own, or (operator) everyone's. */
    usage(): Promise<{ userId: string | null; jobs: number; done: number; audioSeconds: number }[]> {
      return store.usage(principal.kind === "user" ? principal.userId : undefined);
    },
  };
}
