import OpenAI from "openai";
import type { LlmLimiter } from "./llm-limiter";
import { DEFAULT_RETRY_POLICY, isRetryable, withRetries, type RetryPolicy } from "./llm-retry";
import type { Complete, CompletionContext } from "./srt-fixer";

export type OpenAiCompleteOptions = {
  baseURL: string;
  apiKey: string;
  /** ms one request may take before it is abandoned (and retried). */
  timeoutMs: number;
  limiter: LlmLimiter;
  retry?: RetryPolicy;
  /** A try failed and will be retried: a log line's message and fields (the job's id among them). */
  onRetry?: (message: string, fields: CompletionContext & { error: string; retry: number; delayMs: number }) => void;
};

/**
 * Chat completions through the `openai` SDK against any OpenAI-compatible endpoint, with a
 * strict JSON-schema reply. The SDK's own retries are off: every try goes through the
 * process-wide limiter, and a retry waiting out its backoff (or Retry-After) holds no slot.
 */
export function createOpenAiComplete(options: OpenAiCompleteOptions): Complete {
  const client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey, maxRetries: 0, timeout: options.timeoutMs });
  return (request, signal, context = {}) =>
    withRetries(
      () =>
        options.limiter.run(async () => {
          const completion = await client.chat.completions.create(
            {
              model: request.model,
              messages: request.messages,
              response_format: { type: "json_schema", json_schema: { name: request.schema.name, schema: request.schema.schema, strict: true } },
            },
            { signal },
          );
          return completion.choices[0]?.message?.content ?? "";
        }, signal),
      {
        policy: options.retry ?? DEFAULT_RETRY_POLICY,
        signal,
        // Connection failures and timeouts (the SDK's APIConnectionError and its timeout subclass) may pass.
        retryable: (error) => error instanceof OpenAI.APIConnectionError || isRetryable(error),
        onRetry: (error, delayMs, tryNumber) =>
          options.onRetry?.("LLM request failed; retrying", { ...context, error: error instanceof Error ? error.message : String(error), retry: tryNumber, delayMs: Math.round(delayMs) }),
      },
    );
}
