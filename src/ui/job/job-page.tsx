"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { convertResultSchema, fixSrtResultSchema } from "../../server/jobs/job-types";
import { mediaContentUrl } from "../api-key";
import { formatBytes, formatDateTime, formatDuration, formatElapsed, isBatchJobType, jobTypeLabel } from "../format";
import { JobActions } from "../job-actions";
import { jobEngine, jobTitle } from "../job-facts";
import { ErrorState, Loading } from "../query-states";
import { isActiveStatus, ProgressBar, StatusBadge } from "../status";
import { useTRPC, type JobView } from "../trpc";
import { CueDiff } from "./cue-diff";
import { JobLog } from "./job-log";
import { TranscriptSection } from "./transcript-section";

function Facts({ job }: { job: JobView }) {
  const rows: [string, string][] = [
    ["Type", jobTypeLabel(job.type)],
    ["Language", job.language ?? "—"],
    ["Engine", jobEngine(job)],
    ["Audio", formatDuration(job.media?.durationS)],
    ["File size", job.media ? formatBytes(job.media.sizeBytes) : "—"],
    ["Created", formatDateTime(job.createdAt)],
    ["Started", formatDateTime(job.startedAt)],
    ["Finished", formatDateTime(job.finishedAt)],
    ["Run time", formatElapsed(job.startedAt, job.finishedAt)],
    ["Attempts", `${job.attempts} of ${job.maxAttempts}`],
  ];
  return (
    <dl className="stats">
      {rows.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function FixSrtOutcome({ job }: { job: JobView }) {
  const result = fixSrtResultSchema.safeParse(job.result);
  if (!result.success) return null;
  return (
    <section aria-labelledby="diff-heading">
      <h2 id="diff-heading">Corrections</h2>
      {result.data.warnings.map((warning) => (
        <p key={warning} className="warning-text">
          {warning}
        </p>
      ))}
      <CueDiff changes={result.data.changes} cues={result.data.cues} />
      <a className="button" href={mediaContentUrl(result.data.outputMediaFileId, "attachment")}>
        Download the corrected SRT
      </a>
    </section>
  );
}

function ConvertOutcome({ job }: { job: JobView }) {
  const result = convertResultSchema.safeParse(job.result);
  if (!result.success) return null;
  const src = mediaContentUrl(result.data.outputMediaFileId);
  return (
    <section aria-labelledby="output-heading">
      <h2 id="output-heading">Output</h2>
      <p>
        {result.data.format.toUpperCase()} · {formatBytes(result.data.sizeBytes)} · {formatDuration(result.data.durationS)}
        {result.data.videoCodec ? ` · ${result.data.videoCodec}` : ""}
        {result.data.audioCodec ? ` / ${result.data.audioCodec}` : ""}
      </p>
      {result.data.videoCodec ? <video controls preload="metadata" src={src} className="output-video" aria-label="Converted video" /> : <audio controls preload="metadata" src={src} aria-label="Converted audio" />}
      <p>
        <a className="button" href={mediaContentUrl(result.data.outputMediaFileId, "attachment")}>
          Download
        </a>
      </p>
    </section>
  );
}

export function JobPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const query = useQuery({
    ...trpc.jobs.get.queryOptions({ id }),
    refetchInterval: (q) => (q.state.data && isActiveStatus(q.state.data.job.status) ? 1_000 : false),
  });
  if (query.isPending) return <Loading what="the job" />;
  if (query.isError) return <ErrorState error={query.error} what={`job ${id}`} onRetry={() => void query.refetch()} />;
  const { job } = query.data;
  if (isBatchJobType(job.type)) {
    return (
      <p className="callout">
        {id} is a batch: <Link href={`/batches/${encodeURIComponent(id)}`}>open the batch page</Link>.
      </p>
    );
  }
  const active = isActiveStatus(job.status);
  return (
    <>
      <p className="breadcrumb">
        <Link href="/">Jobs</Link>
        {job.parentId ? (
          <>
            {" / "}
            <Link href={`/batches/${encodeURIComponent(job.parentId)}`}>batch {job.parentId}</Link>
          </>
        ) : null}
      </p>
      <div className="page-head">
        <h1>{jobTitle(job)}</h1>
        <JobActions job={job} />
      </div>
      <section className="card" aria-label="Job details">
        <p className="batch-summary">
          <StatusBadge status={job.status} /> <span className="mono muted">{job.id}</span>
        </p>
        {active ? <ProgressBar value={job.progress} status={job.status} label="Job progress" /> : null}
        {job.failureReason ? (
          <p className="callout callout-error" role="alert">
            {job.failureReason}
          </p>
        ) : null}
        <Facts job={job} />
      </section>
      {job.status === "DONE" && (job.type === "transcribe" || job.type === "generate_srt") ? <TranscriptSection job={job} /> : null}
      {job.status === "DONE" && job.type === "fix_srt" ? <FixSrtOutcome job={job} /> : null}
      {job.status === "DONE" && job.type === "convert" ? <ConvertOutcome job={job} /> : null}
      <JobLog id={job.id} live={active} />
    </>
  );
}
