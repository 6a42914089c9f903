/**
 * Row types of the data model (prisma/schema.prisma). Taken from the SQLite client; the
 * PostgreSQL client generates identical shapes from the same models.
 */
export type {
  Job,
  JobLog,
  MediaFile,
  Prisma,
  Transcript,
  TranscriptSegment,
  WebhookDelivery,
} from "../../generated/prisma/sqlite/client";
