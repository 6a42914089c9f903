"use client";

import Link from "next/link";
import { formatDateTime, formatDuration, formatElapsed, jobHref, jobTypeLabel } from "./format";
import { JobActions } from "./job-actions";
import { jobEngine, jobTitle } from "./job-facts";
import { ProgressBar, StatusBadge } from "./status";
import type { JobView } from "./trpc";

/** The live jobs table of the jobs and batch pages. */
export function JobsTable({ jobs, caption }: { jobs: readonly JobView[]; caption: string }) {
  return (
    <div className="table-scroll">
      <table className="jobs-table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col">Audio</th>
            <th scope="col">Engine</th>
            <th scope="col">Created</th>
            <th scope="col">Run time</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} data-job-id={job.id} data-status={job.status}>
              <td className="cell-title">
                <Link href={jobHref(job)}>{jobTitle(job)}</Link>
                {job.failureReason ? <div className="error-text small">{job.failureReason}</div> : null}
              </td>
              <td>{jobTypeLabel(job.type)}</td>
              <td>
                <StatusBadge status={job.status} />
              </td>
              <td>
                <ProgressBar value={job.progress} status={job.status} label={`Progress of ${jobTitle(job)}`} />
              </td>
              <td>{formatDuration(job.media?.durationS)}</td>
              <td>{jobEngine(job)}</td>
              <td>
                <time dateTime={job.createdAt.toISOString()}>{formatDateTime(job.createdAt)}</time>
              </td>
              <td>{formatElapsed(job.startedAt, job.finishedAt)}</td>
              <td>
                <JobActions job={job} compact />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
