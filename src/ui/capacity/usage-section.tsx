"use client";

import { useQuery } from "@tanstack/react-query";
import { formatDuration } from "../format";
import { ErrorState, Loading } from "../query-states";
import { useTRPC } from "../trpc";

/**
 * Work done per user: with a user's key, that user's own; with an operator key (or no keys),
 * every user's, unowned jobs as "(no user)".
 */
export function UsageSection() {
  const trpc = useTRPC();
  const whoami = useQuery({ ...trpc.system.whoami.queryOptions(), refetchInterval: 10_000 });
  return (
    <section aria-labelledby="usage-heading" className="card">
      <h2 id="usage-heading">Usage</h2>
      {whoami.isPending ? (
        <Loading what="usage" />
      ) : whoami.isError ? (
        <ErrorState error={whoami.error} what="usage" onRetry={() => void whoami.refetch()} />
      ) : (
        <>
          <p data-testid="signed-in-as">
            {whoami.data.principal.kind === "user" ? (
              <>
                Signed in as <strong>{whoami.data.principal.userId}</strong>: you see your own jobs and files only.
              </>
            ) : (
              <>Operator view: every user&apos;s jobs.</>
            )}
          </p>
          <table>
            <caption className="visually-hidden">Jobs and audio per user</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Jobs</th>
                <th scope="col">Done</th>
                <th scope="col">Audio transcribed</th>
              </tr>
            </thead>
            <tbody>
              {whoami.data.usage.length === 0 ? (
                <tr>
                  <td colSpan={4}>No jobs yet.</td>
                </tr>
              ) : (
                whoami.data.usage.map((row) => (
                  <tr key={row.userId ?? ""} data-user={row.userId ?? ""}>
                    <th scope="row">{row.userId ?? "(no user)"}</th>
                    <td>{row.jobs}</td>
                    <td>{row.done}</td>
                    <td>{formatDuration(row.audioSeconds)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
