"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { convertResultSchema, fixSrtResultSchema, isBatchType } from "../../server/jobs/job-types";
import { mediaContentUrl } from "../api-key";
import { formatBytes, formatDateTime, formatDuration, formatElapsed, jobTypeLabel } from "../format";
import { JobActions } from "../job-actions";
import { useJobChanges } from "../live-jobs";
import { jobEngine, jobTitle } from "../job-facts";
import { ErrorState, Loading } from "../query-states";
import { StatList } from "../stat-list";
import { isActiveStatus, ProgressBar, StatusBadge } from "../status";
import { useTRPC, type JobView } from "../trpc";
import { CueDiff } from "./cue-diff";
import { JobLog } from "./job-log";
import { TranscriptSection } from "./transcript-section";

function Facts({ job }: { job: JobView }) {
  return (
    <StatList
      stats={[
        { label: "Type", value: jobTypeLabel(job.type) },
        { label: "Language", value: job.language ?? "—" },
        { label: "Engine", value: jobEngine(job) },
        { label: "Audio", value: formatDuration(job.media?.durationS) },
        { label: "File size", value: job.media ? formatBytes(job.media.sizeBytes) : "—" },
        { label: "Created", value: formatDateTime(job.createdAt) },
        { label: "Started", value: formatDateTime(job.startedAt) },
        { label: "Finished", value: formatDateTime(job.finishedAt) },
        { label: "Run time", value: formatElapsed(job.startedAt, job.finishedAt) },
        { label: "Attempts", value: `${job.attempts} of ${job.maxAttempts}` },
      ]}
    />
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
  const live = useJobChanges(
    (change) => change.jobId === id,
    () => [trpc.jobs.get.queryKey({ id })],
  );
  const query = useQuery({
    ...trpc.jobs.get.queryOptions({ id }),
    refetchInterval: (q) => (!live && q.state.data && isActiveStatus(q.state.data.job.status) ? 1_000 : false),
  });
  if (query.isPending) return <Loading what="the job" />;
  if (query.isError) return <ErrorState error={query.error} what={`job ${id}`} onRetry={() => void query.refetch()} />;
  const { job } = query.data;
  if (isBatchType(job.type)) {
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
