import { randomBytes } from "node:crypto";
import { z } from "zod";
import { listenPostgres } from "../db/sql/postgres-listener";
import { sql, type SqlClient } from "../db/sql/sql-client";
import { describeError } from "../errors";
import type { Logger } from "../logger";
import { jobEventSchema, LocalJobEvents, type JobEvent, type JobEventBus } from "./job-events";

const CHANNEL = "transcribe_job_events";
/** NOTIFY payloads must stay under 8000 bytes; leave room for the envelope. */
const MAX_PAYLOAD_BYTES = 7_000;
/** ms events wait to be sent together: a batch of thousands of transitions costs a few NOTIFYs. */
const LINGER_MS = 5;

const envelopeSchema = z.object({ from: z.string(), events: z.array(jobEventSchema) });

/**
 * The job event bus across replicas on PostgreSQL. Local listeners hear an event at once;
 * other replicas hear it through NOTIFY, sent after the transition committed, coalesced
 * (so a burst costs a few statements) and split to fit NOTIFY's payload limit. A replica
 * ignores its own notifications, having delivered them already. Losing a notification is
 * never a correctness problem: schedulers poll slowly as a safety net, and after a
 * reconnect listeners are told to resync.
 */
export function createPostgresJobEventBus(opts: { url: string; sql: SqlClient; logger: Logger }): JobEventBus & { ready: Promise<void> } {
  const self = randomBytes(6).toString("hex");
  const local = new LocalJobEvents((error) => opts.logger.error("a job event listener failed", { error: describeError(error) }));
  let pending: JobEvent[] = [];
  let timer: NodeJS.Timeout | null = null;
  let sending: Promise<void> = Promise.resolve();
  let closed = false;

  const payloads = (events: readonly JobEvent[]): string[] => {
    const out: string[] = [];
    let batch: JobEvent[] = [];
    const render = (list: JobEvent[]) => JSON.stringify({ from: self, events: list });
    for (const event of events) {
      batch.push(event);
      if (Buffer.byteLength(render(batch)) > MAX_PAYLOAD_BYTES && batch.length > 1) {
        batch.pop();
        out.push(render(batch));
        batch = [event];
      }
    }
    if (batch.length) out.push(render(batch));
    return out;
  };

  const flush = () => {
    timer = null;
    const events = pending;
    pending = [];
    sending = sending.then(async () => {
      for (const payload of payloads(events)) {
        try {
          await opts.sql.run(sql(`SELECT pg_notify(?, ?)`, CHANNEL, payload));
        } catch (error) {
          opts.logger.warn("could not notify other replicas of job changes (they will catch up by polling)", { error: describeError(error) });
          return;
        }
      }
    });
  };

  const listener = listenPostgres({
    url: opts.url,
    channel: CHANNEL,
    onNotification(payload) {
      let envelope;
      try {
        envelope = envelopeSchema.parse(JSON.parse(payload));
      } catch (error) {
        opts.logger.warn("ignored an unreadable job notification", { error: describeError(error) });
        return;
      }
      if (envelope.from === self) return;
      for (const event of envelope.events) local.deliver(event, "remote");
    },
    onReconnect() {
      opts.logger.info("listening for job changes again");
      local.deliver({ type: "resync" }, "remote");
    },
    onError(error) {
      opts.logger.warn("the job notification connection failed; reconnecting", { error: describeError(error) });
    },
  });

  return {
    ready: listener.ready,
    publish(events) {
      for (const event of events) local.deliver(event, "local");
      if (closed || events.length === 0) return;
      pending.push(...events);
      timer ??= setTimeout(flush, LINGER_MS);
    },
    subscribe: (fn) => local.subscribe(fn),
    async close() {
      if (closed) return;
      closed = true;
      if (timer) {
        clearTimeout(timer);
        flush();
      }
      await sending;
      await listener.close();
    },
  };
}
