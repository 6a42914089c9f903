import type { EngineFactory } from "../asr/engine";

/**
 * With TRANSPORT=sqs the control plane runs no engine: its pool's slots only count tasks in
 * flight to the remote fleet (SQS_MAX_IN_FLIGHT), so the dispatcher's FIFO, leases and
 * retries work as they do embedded. A slot never transcribes; the transport ignores it.
 */
export function createRemoteSlotFactory(): EngineFactory {
  return async () => ({
    info: { name: "remote workers (SQS)", model: "as configured on the workers", provider: "sqs", languages: [] },
    async transcribe() {
      throw new Error("A remote slot does not transcribe: with TRANSPORT=sqs the SQS transport sends the task to a worker");
    },
    async close() {},
  });
}
