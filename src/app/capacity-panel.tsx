"use client";

import { useEffect, useState } from "react";

type Capacity = { max_engines: number; unused_engines: number; queued_jobs: number; active_jobs: { job_id: string; parallel_engines: number }[] };

/** Polls GET /jobs every two seconds. */
export function CapacityPanel() {
  const [capacity, setCapacity] = useState<Capacity | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const response = await fetch("/jobs", { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        if (!stopped) {
          setCapacity((await response.json()) as Capacity);
          setError(null);
        }
      } catch (err) {
        if (!stopped) setError(err instanceof Error ? err.message : String(err));
      }
    };
    void load();
    const timer = setInterval(() => void load(), 2000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  if (error) return <p role="alert">Capacity unavailable: {error}</p>;
  if (!capacity) return <p aria-busy="true">Loading capacity…</p>;
  return (
    <section aria-label="Engine capacity">
      <h2>Engines</h2>
      <p>
        {capacity.max_engines - capacity.unused_engines} of {capacity.max_engines} in use, {capacity.queued_jobs} jobs queued
      </p>
    </section>
  );
}
