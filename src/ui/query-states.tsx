"use client";

import { TRPCClientError } from "@trpc/client";
import type { ReactNode } from "react";
import { ApiKeyForm } from "./api-key-form";

/** What a failed request says to a user: the server's message, never a stack trace. */
export function errorMessage(error: unknown): string {
  if (error instanceof TRPCClientError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

function isUnauthorized(error: unknown): boolean {
  return error instanceof TRPCClientError && (error.data as { httpStatus?: number } | undefined)?.httpStatus === 401;
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function ErrorState({ error, onRetry, what }: { error: unknown; onRetry?: () => void; what: string }) {
  if (isUnauthorized(error)) {
    return (
      <div className="callout callout-error" role="alert">
        <p>
          <strong>This server needs an API key</strong> to show {what}.
        </p>
        <ApiKeyForm onSaved={onRetry} />
      </div>
    );
  }
  return (
    <div className="callout callout-error" role="alert">
      <p>
        <strong>Could not load {what}:</strong> {errorMessage(error)}
      </p>
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function EmptyState({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}
