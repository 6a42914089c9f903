import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
// Type-only: the dashboard bundle never contains server code.
import type { AppRouter } from "../server/api/trpc/root";

/** The tRPC React client: `useTRPC()` gives typed query/mutation options for TanStack Query. */
export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type JobView = RouterOutputs["jobs"]["get"]["job"];
export type JobListPage = RouterOutputs["jobs"]["list"];
