"use client";

import Link from "next/link";
import { useId, useState } from "react";
import { jobTypeLabel } from "./format";
import { PagedJobs, type JobFilters } from "./paged-jobs";
import type { JobView } from "./trpc";

const STATUSES: JobView["status"][] = ["QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"];
const TYPES = ["batch_transcribe", "batch_generate_srt", "batch_fix_srt", "batch_convert", "transcribe", "generate_srt", "fix_srt", "convert"] as const;

/** "2026-11-24" from a date input, read as local midnight. */
function localDay(value: string): Date | undefined {
  if (!value) return undefined;
  const [year, month, day] = value.split("-").map(Number);
  if (!year || !month || !day) return undefined;
  return new Date(year, month - 1, day);
}

export function JobsPage() {
  const [status, setStatus] = useState("");
  const [type, setType] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const ids = { status: useId(), type: useId(), from: useId(), to: useId() };

  const fromDate = localDay(from);
  const toDate = localDay(to);
  const filters: JobFilters = {
    parentId: null,
    ...(status ? { status: [status as JobView["status"]] } : {}),
    ...(type ? { type: [type] } : {}),
    ...(fromDate ? { createdAfter: fromDate } : {}),
    // "To" includes the whole day chosen.
    ...(toDate ? { createdBefore: new Date(toDate.getTime() + 24 * 3600 * 1000) } : {}),
  };
  const filtered = Boolean(status || type || from || to);

  return (
    <>
      <div className="page-head">
        <h1>Jobs</h1>
        <Link className="button" href="/upload">
          Upload files
        </Link>
      </div>
      <form className="filters" aria-label="Filter jobs" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor={ids.status}>Status</label>
          <select id={ids.status} value={status} onChange={(event) => setStatus(event.target.value)}>
            <option value="">Any status</option>
            {STATUSES.map((value) => (
              <option key={value} value={value}>
                {value.toLowerCase()}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.type}>Type</label>
          <select id={ids.type} value={type} onChange={(event) => setType(event.target.value)}>
            <option value="">Any type</option>
            {TYPES.map((value) => (
              <option key={value} value={value}>
                {jobTypeLabel(value)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.from}>Created from</label>
          <input id={ids.from} type="date" value={from} onChange={(event) => setFrom(event.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={ids.to}>Created to</label>
          <input id={ids.to} type="date" value={to} onChange={(event) => setTo(event.target.value)} />
        </div>
        {filtered ? (
          <button
            type="button"
            className="button-secondary"
            onClick={() => {
              setStatus("");
              setType("");
              setFrom("");
              setTo("");
            }}
          >
            Clear filters
          </button>
        ) : null}
      </form>
      <PagedJobs
        filters={filters}
        caption="Jobs, newest first"
        empty={
          filtered ? (
            <p>No jobs match these filters.</p>
          ) : (
            <p>
              No jobs yet. <Link href="/upload">Upload some files</Link> to start.
            </p>
          )
        }
      />
    </>
  );
}
