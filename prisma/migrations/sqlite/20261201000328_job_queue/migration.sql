-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Job" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "origin" TEXT NOT NULL DEFAULT 'trpc',
    "parentId" TEXT,
    "params" TEXT NOT NULL,
    "result" TEXT,
    "config" TEXT,
    "mediaFileId" TEXT,
    "language" TEXT,
    "enginesRequested" INTEGER NOT NULL DEFAULT 1,
    "userId" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 3,
    "lastError" TEXT,
    "failureReason" TEXT,
    "leaseOwner" TEXT,
    "leaseExpiresAt" DATETIME,
    "progress" REAL NOT NULL DEFAULT 0,
    "lane" TEXT,
    "runAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Job_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Job" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Job_mediaFileId_fkey" FOREIGN KEY ("mediaFileId") REFERENCES "MediaFile" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
-- Existing jobs: the lane follows from the type, and a queued job is runnable since it was created.
INSERT INTO "new_Job" ("lane", "runAt", "attempts", "config", "createdAt", "enginesRequested", "failureReason", "finishedAt", "id", "language", "lastError", "leaseExpiresAt", "leaseOwner", "maxAttempts", "mediaFileId", "origin", "params", "parentId", "progress", "result", "startedAt", "status", "type", "updatedAt", "userId") SELECT CASE "type" WHEN 'transcribe' THEN 'asr' WHEN 'generate_srt' THEN 'asr' WHEN 'convert' THEN 'convert' WHEN 'fix_srt' THEN 'llm' ELSE NULL END, "createdAt", "attempts", "config", "createdAt", "enginesRequested", "failureReason", "finishedAt", "id", "language", "lastError", "leaseExpiresAt", "leaseOwner", "maxAttempts", "mediaFileId", "origin", "params", "parentId", "progress", "result", "startedAt", "status", "type", "updatedAt", "userId" FROM "Job";
DROP TABLE "Job";
ALTER TABLE "new_Job" RENAME TO "Job";
CREATE INDEX "Job_status_createdAt_idx" ON "Job"("status", "createdAt");
CREATE INDEX "Job_status_lane_runAt_createdAt_idx" ON "Job"("status", "lane", "runAt", "createdAt");
CREATE INDEX "Job_parentId_status_idx" ON "Job"("parentId", "status");
CREATE INDEX "Job_createdAt_idx" ON "Job"("createdAt");
CREATE INDEX "Job_leaseExpiresAt_idx" ON "Job"("leaseExpiresAt");
CREATE INDEX "Job_finishedAt_idx" ON "Job"("finishedAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
