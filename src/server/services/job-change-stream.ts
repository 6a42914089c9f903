import { z } from "zod";
import type { JobChangedEvent, JobEventBus } from "../jobs/job-events";

/** Which changes a live view wants: one job, a batch with its children, top-level jobs, or all. */
export const jobChangeFilterSchema = z.union([
  z.object({ jobId: z.string().min(1) }),
  z.object({ batchId: z.string().min(1) }),
  z.object({ topLevel: z.literal(true) }),
  z.object({}).strict(),
]);
export type JobChangeFilter = z.infer<typeof jobChangeFilterSchema>;

/**
 * What a live view receives: the jobs that changed since the last message (the latest state
 * of each), or `resync: true` when changes may have been missed (a replica's notification
 * connection came back, or the view fell too far behind) and it should re-read everything.
 */
export type JobChangeBatch = { changes: Omit<JobChangedEvent, "type">[]; resync: boolean };

export type StreamOptions = {
  signal: AbortSignal;
  /** ms changes are gathered before they are sent: a burst costs one message, not thousands. */
  windowMs?: number;
  /** Distinct jobs held for one message at most; past that a resync is cheaper than the list. */
  maxPending?: number;
  /**
   * Which of these jobs the subscriber may see (a user sees only their own). Asked once per
   * job: owners never change, so the answer is remembered for the stream's life.
   */
  visible?: (jobIds: readonly string[]) => Promise<Set<string>>;
};

/** Jobs whose visibility a stream remembers; past that it forgets and asks again. */
const MAX_REMEMBERED_OWNERS = 50_000;

function matches(filter: JobChangeFilter, event: JobChangedEvent): boolean {
  if ("jobId" in filter) return event.jobId === filter.jobId;
  if ("batchId" in filter) return event.jobId === filter.batchId || event.parentId === filter.batchId;
  if ("topLevel" in filter) return event.parentId === null;
  return true;
}

/**
 * The job changes every replica publishes, as an async stream for one subscriber (the
 * dashboard's tRPC subscription over SSE). Changes heard from any replica count; each
 * message carries the latest state of each job that changed during the window.
 */
export async function* streamJobChanges(bus: JobEventBus, filter: JobChangeFilter, options: StreamOptions): AsyncGenerator<JobChangeBatch> {
  const windowMs = options.windowMs ?? 250;
  const maxPending = options.maxPending ?? 500;
  let pending = new Map<string, Omit<JobChangedEvent, "type">>();
  let resync = false;
  const remembered = new Map<string, boolean>();
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const unsubscribe = bus.subscribe((event) => {
    if (event.type === "resync") {
      resync = true;
      notify();
      return;
    }
    if (event.type !== "changed" || !matches(filter, event)) return;
    if (pending.size >= maxPending) resync = true;
    else pending.set(event.jobId, { jobId: event.jobId, parentId: event.parentId, status: event.status, ...(event.progress === undefined ? {} : { progress: event.progress }) });
    notify();
  });
  const aborted = new Promise<void>((resolve) => options.signal.addEventListener("abort", () => resolve(), { once: true }));
  try {
    while (!options.signal.aborted) {
      if (pending.size === 0 && !resync) {
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
        if (options.signal.aborted) return;
      }
      // Gather the rest of the burst before sending.
      await Promise.race([new Promise((resolve) => setTimeout(resolve, windowMs)), aborted]);
      if (options.signal.aborted) return;
      const batch: JobChangeBatch = resync ? { changes: [], resync: true } : { changes: [...pending.values()], resync: false };
      pending = new Map();
      resync = false;
      if (options.visible && !batch.resync) {
        batch.changes = await visibleChanges(batch.changes, options.visible, remembered);
        if (batch.changes.length === 0) continue;
      }
      yield batch;
    }
  } finally {
    unsubscribe();
  }
}

/** The changes of jobs the subscriber may see; asks `visible` only about jobs not seen before. */
async function visibleChanges(
  changes: JobChangeBatch["changes"],
  visible: (jobIds: readonly string[]) => Promise<Set<string>>,
  remembered: Map<string, boolean>,
): Promise<JobChangeBatch["changes"]> {
  const unknown = changes.map((change) => change.jobId).filter((id) => !remembered.has(id));
  if (unknown.length) {
    if (remembered.size + unknown.length > MAX_REMEMBERED_OWNERS) remembered.clear();
    const allowed = await visible(unknown);
    for (const id of unknown) remembered.set(id, allowed.has(id));
  }
  return changes.filter((change) => remembered.get(change.jobId) === true);
}
