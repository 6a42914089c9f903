import { ReceiveMessageCommand, type Message, type ReceiveMessageCommandInput, type SQSClient } from "@aws-sdk/client-sqs";
import { describeError } from "../errors";
import type { Logger } from "../logger";

/** ms to wait after a failed receive before the next, so an unreachable queue is not hammered. */
const RECEIVE_RETRY_MS = 1000;

/**
 * Long-polls `input.QueueUrl` until `signal` aborts, handing each batch of messages to
 * `onMessages` (awaited before the next receive). A failed receive is logged and retried
 * after a pause; stopping cancels the poll in flight. Shared by the control plane's result
 * consumers and the workers' task loops.
 */
export async function receiveUntilStopped(
  sqs: SQSClient,
  input: ReceiveMessageCommandInput,
  opts: { signal: AbortSignal; logger: Logger; onMessages: (messages: Message[]) => Promise<void> },
): Promise<void> {
  const { signal } = opts;
  while (!signal.aborted) {
    let messages: Message[];
    try {
      messages = (await sqs.send(new ReceiveMessageCommand(input), { abortSignal: signal })).Messages ?? [];
    } catch (error) {
      if (signal.aborted) return;
      opts.logger.warn("receiving from SQS failed; retrying", { queueUrl: input.QueueUrl, error: describeError(error) });
      await new Promise((resolve) => setTimeout(resolve, RECEIVE_RETRY_MS));
      continue;
    }
    await opts.onMessages(messages);
  }
}
