"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useState } from "react";
import { fixSrtResultSchema } from "../../server/jobs/job-types";
import { authHeaders, mediaContentUrl } from "../api-key";
import { useJobChanges } from "../live-jobs";
import { errorMessage } from "../query-states";
import { isActiveStatus, ProgressBar, StatusBadge } from "../status";
import { useTRPC } from "../trpc";
import { CueDiff } from "./cue-diff";

// The fix job started from this page is remembered per browser, so a reload shows it again.
const storageKey = (jobId: string) => `transcribe.fixJob.${jobId}`;

/** "Fix with LLM": a fix_srt job on this job's subtitles, its before/after diff, and applying it. */
export function FixWithLlm({ jobId, onApplied }: { jobId: string; onApplied: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [fixJobId, setFixJobId] = useState<string | null>(null);
  const [applyError, setApplyError] = useState<string | null>(null);
  useEffect(() => setFixJobId(window.localStorage.getItem(storageKey(jobId))), [jobId]);

  const create = useMutation(
    trpc.jobs.createFixSrt.mutationOptions({
      onSuccess: (job) => {
        window.localStorage.setItem(storageKey(jobId), job.id);
        setFixJobId(job.id);
      },
    }),
  );
  const live = useJobChanges(
    (change) => change.jobId === fixJobId,
    () => [trpc.jobs.get.queryKey({ id: fixJobId ?? "" })],
  );
  const fixJob = useQuery({
    ...trpc.jobs.get.queryOptions({ id: fixJobId ?? "" }),
    enabled: fixJobId !== null,
    refetchInterval: (q) => (!live && q.state.data && isActiveStatus(q.state.data.job.status) ? 1_000 : false),
  });
  const apply = useMutation(
    trpc.jobs.saveSubtitles.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.jobs.transcript.pathKey() });
        onApplied();
      },
    }),
  );

  const job = fixJob.data?.job;
  const result = job?.status === "DONE" ? fixSrtResultSchema.safeParse(job.result) : null;

  const applyCorrected = async (outputMediaId: string) => {
    setApplyError(null);
    try {
      const response = await fetch(mediaContentUrl(outputMediaId, "attachment"), { headers: authHeaders() });
      if (!response.ok) throw new Error(`Could not read the corrected SRT (HTTP ${response.status})`);
      apply.mutate({ id: jobId, srt: await response.text() });
    } catch (error) {
      setApplyError(errorMessage(error));
    }
  };

  return (
    <section aria-labelledby="fix-heading" className="card">
      <div className="page-head">
        <h2 id="fix-heading">Fix with LLM</h2>
        <button type="button" disabled={create.isPending || (job !== undefined && isActiveStatus(job.status))} onClick={() => create.mutate({ sourceJobId: jobId })}>
          {create.isPending ? "Starting…" : job ? "Fix again with LLM" : "Fix with LLM"}
        </button>
      </div>
      <p className="muted small">An OpenAI-compatible model corrects spelling, punctuation and misheard words. Cue timings never change.</p>
      {create.error ? (
        <p role="alert" className="error-text">
          Could not start: {errorMessage(create.error)}
        </p>
      ) : null}
      {fixJobId && fixJob.isError ? (
        <p role="alert" className="error-text">
          {errorMessage(fixJob.error)}
        </p>
      ) : null}
      {job ? (
        <div aria-live="polite">
          <p>
            <StatusBadge status={job.status} /> <Link href={`/jobs/${encodeURIComponent(job.id)}`}>Fix job {job.id}</Link>
          </p>
          {isActiveStatus(job.status) ? <ProgressBar value={job.progress} label="LLM fix progress" /> : null}
          {job.failureReason ? <p className="error-text">{job.failureReason}</p> : null}
          {result?.success ? (
            <>
              {result.data.warnings.map((warning) => (
                <p key={warning} className="warning-text">
                  {warning}
                </p>
              ))}
              <CueDiff changes={result.data.changes} cues={result.data.cues} />
              <div className="actions">
                <a className="button button-secondary" href={mediaContentUrl(result.data.outputMediaFileId, "attachment")}>
                  Download the corrected SRT
                </a>
                {result.data.changed > 0 ? (
                  <button type="button" disabled={apply.isPending} onClick={() => void applyCorrected(result.data.outputMediaFileId)}>
                    {apply.isPending ? "Applying…" : "Use the corrected subtitles"}
                  </button>
                ) : null}
              </div>
              {apply.isSuccess ? <p className="success-text">The corrected subtitles are now this job’s subtitles.</p> : null}
              {applyError || apply.error ? (
                <p role="alert" className="error-text">
                  {applyError ?? errorMessage(apply.error)}
                </p>
              ) : null}
            </>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
