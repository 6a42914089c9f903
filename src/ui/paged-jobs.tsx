"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { JobsTable } from "./jobs-table";
import { useJobChanges } from "./live-jobs";
import { EmptyState, ErrorState, Loading } from "./query-states";
import { isActiveStatus } from "./status";
import { useTRPC, type RouterInputs } from "./trpc";

export type JobFilters = Omit<RouterInputs["jobs"]["list"], "cursor" | "limit">;

const PAGE_SIZE = 20;
/** Without the live connection: fast while something moves, slower when the page is settled (new jobs still appear). */
const ACTIVE_POLL_MS = 1_500;
const IDLE_POLL_MS = 5_000;

/**
 * A cursor-paginated jobs table, re-read when a job it lists (a top-level job, or a child of
 * the batch shown) changes, and polled only while the live connection is down. Cursors of the
 * pages visited are kept so "Previous" returns to exactly the page seen before; new jobs
 * arriving only shift page one.
 */
export function PagedJobs({ filters, caption, empty }: { filters: JobFilters; caption: string; empty: React.ReactNode }) {
  const trpc = useTRPC();
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [filterKey, setFilterKey] = useState(JSON.stringify(filters));
  // A filter change starts again at page one.
  const currentKey = JSON.stringify(filters);
  if (currentKey !== filterKey) {
    setFilterKey(currentKey);
    setCursors([undefined]);
  }
  const cursor = cursors[cursors.length - 1];
  const parentId = filters.parentId ?? null;
  const live = useJobChanges(
    (change) => change.parentId === parentId,
    () => [trpc.jobs.list.pathKey()],
  );
  const query = useQuery({
    ...trpc.jobs.list.queryOptions({ ...filters, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) }),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (live ? false : q.state.data?.jobs.some((job) => isActiveStatus(job.status)) ? ACTIVE_POLL_MS : IDLE_POLL_MS),
  });

  if (query.isPending) return <Loading what="jobs" />;
  if (query.isError && !query.data) return <ErrorState error={query.error} what="jobs" onRetry={() => void query.refetch()} />;
  const page = query.data;
  const pageNumber = cursors.length;
  return (
    <div aria-busy={query.isFetching}>
      {query.isError ? <ErrorState error={query.error} what="the latest job states" onRetry={() => void query.refetch()} /> : null}
      {page.jobs.length === 0 ? <EmptyState>{pageNumber === 1 ? empty : "No more jobs."}</EmptyState> : <JobsTable jobs={page.jobs} caption={caption} />}
      <nav className="pager" aria-label="Pages">
        <button type="button" className="button-secondary" disabled={pageNumber === 1} onClick={() => setCursors((list) => list.slice(0, -1))}>
          Previous
        </button>
        <span aria-live="polite">Page {pageNumber}</span>
        <button type="button" className="button-secondary" disabled={!page.nextCursor} onClick={() => setCursors((list) => [...list, page.nextCursor ?? undefined])}>
          Next
        </button>
      </nav>
    </div>
  );
}
