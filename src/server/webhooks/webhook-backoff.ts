/** How long failed deliveries are retried (WEBHOOK_RETRY_BASE_MS, WEBHOOK_RETRY_MAX_MS, WEBHOOK_GIVE_UP_AFTER_MS). */
export type WebhookRetrySchedule = {
  /** ms before the second attempt; doubles per attempt. */
  retryBaseMs: number;
  /** ms: the longest wait between two attempts. */
  retryMaxMs: number;
  /** ms after the first attempt within which attempts are still made. */
  giveUpAfterMs: number;
};

/** Each wait is lengthened by up to this fraction, so receivers coming back are not hit by every sender at once. */
export const RETRY_JITTER = 0.2;

/** ms waited after attempt `attempt` (1-based) fails, before jitter: base, 2 × base, 4 × base, … up to the maximum. */
export function nominalRetryDelayMs(attempt: number, schedule: WebhookRetrySchedule): number {
  const doublings = Math.min(Math.max(0, attempt - 1), 60);
  return Math.min(schedule.retryBaseMs * 2 ** doublings, schedule.retryMaxMs);
}

/** ms from the first attempt to attempt `attempt`'s start, before jitter (0 for the first). */
export function nominalStartMs(attempt: number, schedule: WebhookRetrySchedule): number {
  let total = 0;
  for (let previous = 1; previous < attempt; previous++) total += nominalRetryDelayMs(previous, schedule);
  return total;
}

/**
 * After attempt `attempt` failed: how long to wait before the next one, or null to give up,
 * which happens when the next attempt would start later than giveUpAfterMs after the first.
 * The schedule is reckoned from attempt numbers (the row stores no first-attempt time), and
 * jitter only lengthens a wait, so the real retry window is never shorter than the setting.
 */
export function nextRetryDelayMs(attempt: number, schedule: WebhookRetrySchedule, random: () => number = Math.random): number | null {
  if (nominalStartMs(attempt + 1, schedule) > schedule.giveUpAfterMs) return null;
  const nominal = nominalRetryDelayMs(attempt, schedule);
  return Math.round(nominal * (1 + RETRY_JITTER * random()));
}
