"use client";

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { useState, type ReactNode } from "react";
import superjson from "superjson";
import type { AppRouter } from "../server/api/trpc/root";
import { authHeaders, readApiKey } from "./api-key";
import { LiveJobsProvider } from "./live-jobs";
import { TRPCProvider } from "./trpc";

/** Errors a retry cannot fix: the request itself is wrong or unauthorised. */
function isPermanent(error: unknown): boolean {
  if (!(error instanceof TRPCClientError)) return false;
  const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus ?? 0;
  return status >= 400 && status < 500;
}

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: { staleTime: 1_000, retry: (count, error) => !isPermanent(error) && count < 2, refetchOnWindowFocus: true },
          mutations: { retry: false },
        },
      }),
  );
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          // Server-sent events: an EventSource cannot send headers, so the key goes as a connection parameter.
          true: httpSubscriptionLink({
            url: "/api/trpc",
            transformer: superjson,
            connectionParams: () => {
              const token = readApiKey();
              return token ? { token } : null;
            },
          }),
          false: httpBatchLink({ url: "/api/trpc", transformer: superjson, headers: authHeaders }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <LiveJobsProvider>{children}</LiveJobsProvider>
      </TRPCProvider>
    </QueryClientProvider>
  );
}
