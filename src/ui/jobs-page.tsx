"use client";

import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useId } from "react";
import { jobStatusSchema } from "../server/jobs/job-status";
import { batchJobTypeSchema, singleJobTypeSchema } from "../server/jobs/job-types";
import { jobTypeLabel } from "./format";
import { PagedJobs, type JobFilters } from "./paged-jobs";
import type { JobView } from "./trpc";

const STATUSES = jobStatusSchema.options;
const TYPES = [...batchJobTypeSchema.options, ...singleJobTypeSchema.options];

/** "2026-11-24" from a date input, read as local midnight. */
function localDay(value: string): Date | undefined {
  if (!value) return undefined;
  const [year, month, day] = value.split("-").map(Number);
  if (!year || !month || !day) return undefined;
  return new Date(year, month - 1, day);
}

const FILTER_KEYS = ["status", "type", "from", "to"] as const;
type FilterKey = (typeof FILTER_KEYS)[number];

/**
 * The filters live in the URL (?status=FAILED&from=2026-11-01), so a reload, the back button
 * and a shared link keep them.
 */
function useUrlFilters(): [Record<FilterKey, string>, (patch: Partial<Record<FilterKey, string>>) => void] {
  const search = useSearchParams();
  const router = useRouter();
  const pathname = usePathname() ?? "/";
  const values = Object.fromEntries(FILTER_KEYS.map((key) => [key, search?.get(key) ?? ""])) as Record<FilterKey, string>;
  const update = (patch: Partial<Record<FilterKey, string>>) => {
    const next = new URLSearchParams(search?.toString() ?? "");
    for (const [key, value] of Object.entries(patch)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    const query = next.toString();
    router.replace(query ? `${pathname}?${query}` : pathname, { scroll: false });
  };
  return [values, update];
}

export function JobsPage() {
  const [{ status, type, from, to }, setFilters] = useUrlFilters();
  const setStatus = (value: string) => setFilters({ status: value });
  const setType = (value: string) => setFilters({ type: value });
  const setFrom = (value: string) => setFilters({ from: value });
  const setTo = (value: string) => setFilters({ to: value });
  const ids = { status: useId(), type: useId(), from: useId(), to: useId() };

  const fromDate = localDay(from);
  const toDate = localDay(to);
  const filters: JobFilters = {
    parentId: null,
    // A hand-edited URL with an unknown status is ignored rather than sent.
    ...(STATUSES.includes(status as JobView["status"]) ? { status: [status as JobView["status"]] } : {}),
    ...(type ? { type: [type] } : {}),
    ...(fromDate ? { createdAfter: fromDate } : {}),
    // "To" includes the whole day chosen.
    ...(toDate ? { createdBefore: new Date(toDate.getTime() + 24 * 3600 * 1000) } : {}),
  };
  const filtered = Boolean(status || type || from || to);

  return (
    <>
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
            onClick={() => setFilters({ status: "", type: "", from: "", to: "" })}
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
