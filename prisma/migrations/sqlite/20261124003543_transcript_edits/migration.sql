-- AlterTable
ALTER TABLE "Transcript" ADD COLUMN "editedAt" DATETIME;
ALTER TABLE "Transcript" ADD COLUMN "editedSrt" TEXT;

-- CreateIndex
CREATE INDEX "Job_finishedAt_idx" ON "Job"("finishedAt");
