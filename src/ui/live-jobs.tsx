"use client";

import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
// Type-only: the dashboard bundle never contains server code.
import type { JobChangeBatch } from "../server/services/job-change-stream";
import { useTRPC } from "./trpc";

export type JobChange = JobChangeBatch["changes"][number];

type Listener = (batch: JobChangeBatch) => void;
type LiveJobs = { connected: boolean; listen(listener: Listener): () => void };

const LiveJobsContext = createContext<LiveJobs>({ connected: false, listen: () => () => undefined });

/**
 * One live connection per tab (a tRPC subscription over server-sent events) to the job
 * changes every replica publishes; the views on the page listen to it through
 * `useJobChanges`. While it is down (connecting, or an error before it reconnects), views
 * fall back to polling.
 */
export function LiveJobsProvider({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const listeners = useRef(new Set<Listener>());
  const [live] = useState<Pick<LiveJobs, "listen">>(() => ({
    listen: (listener) => {
      listeners.current.add(listener);
      return () => listeners.current.delete(listener);
    },
  }));
  const subscription = useSubscription(
    trpc.jobs.changes.subscriptionOptions(
      {},
      {
        onData: (batch) => {
          for (const listener of listeners.current) listener(batch);
        },
      },
    ),
  );
  const connected = subscription.status === "pending";
  return <LiveJobsContext.Provider value={{ connected, listen: live.listen }}>{children}</LiveJobsContext.Provider>;
}

/**
 * Re-reads the queries `keys` gives for the changes a view cares about (`matches`), and on a
 * resync. Returns whether the live connection is up: views poll only when it is not.
 */
export function useJobChanges(matches: (change: JobChange) => boolean, keys: (changes: JobChange[]) => QueryKey[]): boolean {
  const { connected, listen } = useContext(LiveJobsContext);
  const queryClient = useQueryClient();
  const latest = useRef({ matches, keys });
  latest.current = { matches, keys };
  useEffect(
    () =>
      listen((batch) => {
        const relevant = batch.resync ? [] : batch.changes.filter((change) => latest.current.matches(change));
        if (!batch.resync && relevant.length === 0) return;
        for (const queryKey of latest.current.keys(relevant)) void queryClient.invalidateQueries({ queryKey });
      }),
    [listen, queryClient],
  );
  return connected;
}
