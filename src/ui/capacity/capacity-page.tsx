"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useId, useState } from "react";
import { useJobChanges } from "../live-jobs";
import { ErrorState, Loading } from "../query-states";
import { useTRPC } from "../trpc";
import { ThroughputChart } from "./throughput-chart";
import { UsageSection } from "./usage-section";

const WINDOWS = [
  { minutes: 15, label: "15 minutes" },
  { minutes: 60, label: "1 hour" },
  { minutes: 360, label: "6 hours" },
  { minutes: 1440, label: "24 hours" },
] as const;

function Stat({ label, value, hint }: { label: string; value: string | number; hint?: string }) {
  return (
    <div className="stat-card">
      <dt>{label}</dt>
      <dd>
        <span className="stat-value">{value}</span>
        {hint ? <span className="muted small">{hint}</span> : null}
      </dd>
    </div>
  );
}

/** What each job lane holds, in the dashboard's words. */
function laneLabel(lane: string): string {
  return lane === "asr" ? "transcriptions" : lane === "convert" ? "conversions" : lane === "llm" ? "subtitle fixes (LLM)" : lane;
}

export function CapacityPage() {
  const trpc = useTRPC();
  const [windowMinutes, setWindowMinutes] = useState<number>(60);
  const windowId = useId();
  // Every job change can move the counts; the remote backlog (SQS's counters) still needs a slow poll.
  const live = useJobChanges(
    () => true,
    () => [trpc.system.capacity.queryKey()],
  );
  const capacity = useQuery({ ...trpc.system.capacity.queryOptions(), refetchInterval: live ? 10_000 : 2_000 });
  const throughput = useQuery({ ...trpc.system.throughput.queryOptions({ windowMinutes, buckets: 30 }), refetchInterval: 10_000, placeholderData: keepPreviousData });

  return (
    <>
      <h1>Capacity</h1>
      {capacity.isPending ? (
        <Loading what="capacity" />
      ) : capacity.isError ? (
        <ErrorState error={capacity.error} what="capacity" onRetry={() => void capacity.refetch()} />
      ) : (
        <>
          <section aria-labelledby="engines-heading" className="card">
            <h2 id="engines-heading">Engines</h2>
            <dl className="stat-grid">
              <Stat label="In use" value={capacity.data.usedEngines} hint={`of ${capacity.data.maxEngines}`} />
              <Stat label="Free" value={capacity.data.unusedEngines} />
              <Stat label="Queued jobs" value={capacity.data.queuedJobs} />
              <Stat label="Running jobs" value={capacity.data.activeJobs.length} />
            </dl>
            <div className="meter" aria-hidden="true">
              {Array.from({ length: capacity.data.maxEngines }, (_, i) => (
                <span key={i} className={i < capacity.data.usedEngines ? "slot slot-used" : "slot"} />
              ))}
            </div>
            {capacity.data.engine ? (
              <p>
                Engine <strong>{capacity.data.engine.name}</strong> · model <span className="mono">{capacity.data.engine.model}</span> · provider {capacity.data.engine.provider} · languages {capacity.data.engine.languages.join(", ")}
              </p>
            ) : null}
            {capacity.data.engineError ? (
              <p className="callout callout-error" role="alert">
                The engine could not start: {capacity.data.engineError}
              </p>
            ) : null}
            {capacity.data.remote ? (
              <p>
                Remote workers (SQS): {capacity.data.remote.queued} tasks waiting, {capacity.data.remote.running} running, {capacity.data.remote.deadLettered} dead-lettered.
              </p>
            ) : null}
            {capacity.data.activeJobs.length > 0 ? (
              <>
                <h3>Running now</h3>
                <ul>
                  {capacity.data.activeJobs.map((active) => (
                    <li key={active.jobId}>
                      <Link href={`/jobs/${encodeURIComponent(active.jobId)}`} className="mono">
                        {active.jobId}
                      </Link>{" "}
                      on {active.parallelEngines} engine{active.parallelEngines === 1 ? "" : "s"}
                    </li>
                  ))}
                </ul>
              </>
            ) : null}
          </section>
          <section aria-labelledby="lanes-heading" className="card">
            <h2 id="lanes-heading">Work by kind (this server)</h2>
            <table>
              <caption className="visually-hidden">Jobs running in each lane of this server, against its limit</caption>
              <thead>
                <tr>
                  <th scope="col">Lane</th>
                  <th scope="col">Runs</th>
                  <th scope="col">Running</th>
                  <th scope="col">Limit</th>
                </tr>
              </thead>
              <tbody>
                {capacity.data.lanes.map((lane) => (
                  <tr key={lane.name} data-lane={lane.name}>
                    <th scope="row">{lane.name}</th>
                    <td>{lane.lanes.map(laneLabel).join(", ")}</td>
                    <td>{lane.running}</td>
                    <td>{lane.limit}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <UsageSection />
        </>
      )}
      <section aria-labelledby="throughput-heading" className="card">
        <div className="page-head">
          <h2 id="throughput-heading">Throughput</h2>
          <div className="field">
            <label htmlFor={windowId}>Window</label>
            <select id={windowId} value={windowMinutes} onChange={(event) => setWindowMinutes(Number(event.target.value))}>
              {WINDOWS.map((option) => (
                <option key={option.minutes} value={option.minutes}>
                  {option.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        {throughput.isPending ? (
          <Loading what="throughput" />
        ) : throughput.isError ? (
          <ErrorState error={throughput.error} what="throughput" onRetry={() => void throughput.refetch()} />
        ) : (
          <ThroughputChart buckets={throughput.data.buckets} bucketMs={throughput.data.bucketMs} />
        )}
      </section>
    </>
  );
}
