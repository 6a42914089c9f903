import { EventEmitter } from "node:events";
import { z } from "zod";
import { jobStatusSchema } from "./job-status";
import { laneSchema } from "./lanes";

/**
 * What JobStore publishes after each committed transition. Every replica hears every event
 * (NOTIFY on PostgreSQL, in-process on SQLite), so nothing depends on which replica made a
 * change: schedulers wake on `runnable`, sync waiters and the dashboard's live views follow
 * `changed`, and `resync` says notifications may have been missed (a reconnect), so
 * listeners should re-read what they care about.
 */
export const jobEventSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("changed"),
    jobId: z.string(),
    parentId: z.string().nullable(),
    status: jobStatusSchema,
    /** 0..1, on progress reports of a running job. */
    progress: z.number().optional(),
  }),
  /** Jobs of this lane became claimable at `at` (ms since the epoch): now, or when a retry's backoff ends. */
  z.object({ type: z.literal("runnable"), lane: laneSchema, at: z.number() }),
  z.object({ type: z.literal("resync") }),
]);
export type JobEvent = z.infer<typeof jobEventSchema>;
export type JobChangedEvent = Extract<JobEvent, { type: "changed" }>;

/** local: this process made the change (post-settle work runs here, once); remote: another replica did. */
export type EventOrigin = "local" | "remote";
export type JobEventListener = (event: JobEvent, origin: EventOrigin) => void;

/** Publishes job events to every replica and delivers theirs to this process's listeners. */
export type JobEventBus = {
  publish(events: readonly JobEvent[]): void;
  subscribe(listener: JobEventListener): () => void;
  /** Safe to call twice. */
  close(): Promise<void>;
};

/**
 * Delivery to this process's listeners, synchronously and in order. A listener that throws
 * is reported and skipped: one broken listener must not starve the others.
 */
export class LocalJobEvents {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {
    // Every synchronous request and every live dashboard view listens here; there can be many.
    this.emitter.setMaxListeners(0);
  }

  deliver(event: JobEvent, origin: EventOrigin): void {
    for (const listener of this.emitter.listeners("event") as JobEventListener[]) {
      try {
        listener(event, origin);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  subscribe(listener: JobEventListener): () => void {
    this.emitter.on("event", listener);
    return () => this.emitter.off("event", listener);
  }
}

/** The bus of a single process (SQLite: one process owns the database file). */
export function createInProcessJobEventBus(onListenerError?: (error: unknown) => void): JobEventBus {
  const local = new LocalJobEvents(onListenerError);
  return {
    publish(events) {
      for (const event of events) local.deliver(event, "local");
    },
    subscribe: (listener) => local.subscribe(listener),
    close: async () => undefined,
  };
}
