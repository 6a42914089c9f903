"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { formatDateTime, formatElapsed, jobTypeLabel } from "./format";
import { JobActions } from "./job-actions";
import { JobLog } from "./job/job-log";
import { useJobChanges } from "./live-jobs";
import { PagedJobs } from "./paged-jobs";
import { ErrorState, Loading } from "./query-states";
import { StatList } from "./stat-list";
import { isActiveStatus, ProgressBar, StatusBadge } from "./status";
import { useTRPC } from "./trpc";

export function BatchPage({ id }: { id: string }) {
  const trpc = useTRPC();
  // Counts change with every child; the batch itself changes when it finishes or is retried.
  const live = useJobChanges(
    (change) => change.jobId === id || change.parentId === id,
    () => [trpc.jobs.get.queryKey({ id })],
  );
  const query = useQuery({
    ...trpc.jobs.get.queryOptions({ id }),
    refetchInterval: (q) => (live ? false : q.state.data && isActiveStatus(q.state.data.job.status) ? 1_500 : 10_000),
  });
  if (query.isPending) return <Loading what="the batch" />;
  if (query.isError) return <ErrorState error={query.error} what={`batch ${id}`} onRetry={() => void query.refetch()} />;
  const { job, batch } = query.data;
  if (!batch) {
    return (
      <p className="callout">
        {id} is a single job, not a batch: <Link href={`/jobs/${encodeURIComponent(id)}`}>open its page</Link>.
      </p>
    );
  }
  const finished = batch.done + batch.failed + batch.cancelled;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/">Jobs</Link> / batch
      </p>
      <div className="page-head">
        <h1>
          {jobTypeLabel(job.type)} <span className="muted mono">{job.id}</span>
        </h1>
        <JobActions job={job} />
      </div>
      <section className="card" aria-labelledby="batch-progress-heading">
        <h2 id="batch-progress-heading" className="visually-hidden">
          Progress
        </h2>
        <div className="batch-summary">
          <StatusBadge status={job.status} />
          <span aria-live="polite">
            {finished} of {batch.total} files finished
          </span>
        </div>
        <ProgressBar value={batch.total ? finished / batch.total : 0} status={job.status} label="Batch progress" />
        <StatList
          stats={[
            { label: "Done", value: batch.done, key: "done" },
            { label: "Running", value: batch.running, key: "running" },
            { label: "Queued", value: batch.queued, key: "queued" },
            { label: "Failed", value: batch.failed, key: "failed" },
            { label: "Cancelled", value: batch.cancelled, key: "cancelled" },
            { label: "Created", value: formatDateTime(job.createdAt) },
            { label: "Run time", value: formatElapsed(job.startedAt ?? job.createdAt, job.finishedAt) },
          ]}
        />
        {job.failureReason ? <p className="error-text">{job.failureReason}</p> : null}
      </section>
      <section aria-labelledby="children-heading">
        <h2 id="children-heading">Files</h2>
        <PagedJobs filters={{ parentId: job.id, order: "oldest" }} caption={`Files of batch ${job.id}`} empty={<p>This batch has no files.</p>} />
      </section>
      <JobLog id={job.id} live={isActiveStatus(job.status)} />
    </>
  );
}
