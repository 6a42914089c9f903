"use client";

import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { useJobChanges } from "../live-jobs";
import { ErrorState, Loading } from "../query-states";
import { useTRPC } from "../trpc";

/** A job's processing log, newest last; re-read when the job changes, polled while it is active and the live connection is down. */
export function JobLog({ id, live }: { id: string; live: boolean }) {
  const trpc = useTRPC();
  const connected = useJobChanges(
    (change) => change.jobId === id,
    () => [trpc.jobs.log.queryKey({ id })],
  );
  const query = useQuery({ ...trpc.jobs.log.queryOptions({ id }), refetchInterval: live && !connected ? 2_000 : false });
  // The last lines (done, failed, batch finished) are written as the job settles: read them once more then.
  const { refetch } = query;
  useEffect(() => {
    if (!live) void refetch();
  }, [live, refetch]);
  return (
    <section aria-labelledby="log-heading">
      <h2 id="log-heading">Log</h2>
      {query.isPending ? (
        <Loading what="the log" />
      ) : query.isError ? (
        <ErrorState error={query.error} what="the log" onRetry={() => void query.refetch()} />
      ) : query.data.length === 0 ? (
        <p className="muted">Nothing logged yet.</p>
      ) : (
        <ol className="log" aria-label="Log lines">
          {query.data.map((line) => (
            <li key={line.id} className={`log-${line.level}`}>
              <time dateTime={line.at.toISOString()}>{line.at.toLocaleTimeString()}</time>
              <span className="log-level">{line.level}</span>
              <span>{line.message}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
