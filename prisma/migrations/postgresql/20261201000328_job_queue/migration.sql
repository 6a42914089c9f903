-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "lane" TEXT,
ADD COLUMN     "runAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateIndex
CREATE INDEX "Job_status_lane_runAt_createdAt_idx" ON "Job"("status", "lane", "runAt", "createdAt");

-- Existing jobs: the lane follows from the type, and a queued job is runnable since it was created.
UPDATE "Job" SET "lane" = CASE "type" WHEN 'transcribe' THEN 'asr' WHEN 'generate_srt' THEN 'asr' WHEN 'convert' THEN 'convert' WHEN 'fix_srt' THEN 'llm' ELSE NULL END, "runAt" = "createdAt";
