-- AlterTable
ALTER TABLE "Transcript" ADD COLUMN     "editedAt" TIMESTAMP(3),
ADD COLUMN     "editedSrt" TEXT;

-- CreateIndex
CREATE INDEX "Job_finishedAt_idx" ON "Job"("finishedAt");
