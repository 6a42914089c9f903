"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { formatDateTime, formatElapsed, jobTypeLabel } from "./format";
import { JobActions } from "./job-actions";
import { JobLog } from "./job/job-log";
import { PagedJobs } from "./paged-jobs";
import { ErrorState, Loading } from "./query-states";
import { isActiveStatus, ProgressBar, StatusBadge } from "./status";
import { useTRPC } from "./trpc";

export function BatchPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const query = useQuery({
    ...trpc.jobs.get.queryOptions({ id }),
    refetchInterval: (q) => (q.state.data && isActiveStatus(q.state.data.job.status) ? 1_500 : 10_000),
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
        <dl className="stats">
          <div>
            <dt>Done</dt>
            <dd data-stat="done">{batch.done}</dd>
          </div>
          <div>
            <dt>Running</dt>
            <dd data-stat="running">{batch.running}</dd>
          </div>
          <div>
            <dt>Queued</dt>
            <dd data-stat="queued">{batch.queued}</dd>
          </div>
          <div>
            <dt>Failed</dt>
            <dd data-stat="failed">{batch.failed}</dd>
          </div>
          <div>
            <dt>Cancelled</dt>
            <dd data-stat="cancelled">{batch.cancelled}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{formatDateTime(job.createdAt)}</dd>
          </div>
          <div>
            <dt>Run time</dt>
            <dd>{formatElapsed(job.startedAt ?? job.createdAt, job.finishedAt)}</dd>
          </div>
        </dl>
        {job.failureReason ? <p className="error-text">{job.failureReason}</p> : null}
      </section>
      <section aria-labelledby="children-heading">
        <h2 id="children-heading">Files</h2>
        <PagedJobs filters={{ parentId: job.id }} caption={`Files of batch ${job.id}`} empty={<p>This batch has no files.</p>} />
      </section>
      <JobLog id={job.id} live={isActiveStatus(job.status)} />
    </>
  );
}
