"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { isBatchType } from "../server/jobs/job-types";
import { useTRPC, type JobView } from "./trpc";
import { errorMessage } from "./query-states";
import { isActiveStatus } from "./status";

/** Cancel and retry for one job; every job query refreshes after either. */
export function JobActions({ job, compact = false }: { job: Pick<JobView, "id" | "status" | "type">; compact?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.jobs.pathKey() });
  const cancel = useMutation(trpc.jobs.cancel.mutationOptions({ onSettled: refresh }));
  const retry = useMutation(trpc.jobs.retry.mutationOptions({ onSettled: refresh }));
  const failed = cancel.error ?? retry.error;
  const cancelText = cancel.isPending ? "Cancelling…" : "Cancel";
  const retryText = retry.isPending ? "Retrying…" : isBatchType(job.type) ? "Retry failed" : "Retry";
  // In a table every row has the same buttons: the accessible name says which job (and starts with the visible text).
  const named = (text: string) => (compact ? `${text} job ${job.id}` : undefined);
  return (
    <div className="actions">
      {isActiveStatus(job.status) ? (
        <button type="button" className="button-secondary" disabled={cancel.isPending} onClick={() => cancel.mutate({ id: job.id })} aria-label={named(cancelText)}>
          {cancelText}
        </button>
      ) : null}
      {job.status === "FAILED" || job.status === "CANCELLED" ? (
        <button type="button" className="button-secondary" disabled={retry.isPending} onClick={() => retry.mutate({ id: job.id })} aria-label={named(retryText)}>
          {retryText}
        </button>
      ) : null}
      {failed ? (
        <span role="alert" className="error-text">
          {errorMessage(failed)}
        </span>
      ) : null}
    </div>
  );
}
