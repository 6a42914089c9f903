"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
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
  const name = compact ? ` job ${job.id}` : "";
  return (
    <div className="actions">
      {isActiveStatus(job.status) ? (
        <button type="button" className="button-secondary" disabled={cancel.isPending} onClick={() => cancel.mutate({ id: job.id })} aria-label={`Cancel${name}`}>
          {cancel.isPending ? "Cancelling…" : "Cancel"}
        </button>
      ) : null}
      {job.status === "FAILED" || job.status === "CANCELLED" ? (
        <button type="button" className="button-secondary" disabled={retry.isPending} onClick={() => retry.mutate({ id: job.id })} aria-label={`Retry${name}`}>
          {retry.isPending ? "Retrying…" : job.type.startsWith("batch_") ? "Retry failed" : "Retry"}
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
