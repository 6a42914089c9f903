-- AlterTable
ALTER TABLE "Transcript" ADD COLUMN     "wordTimings" TEXT;

-- AlterTable
ALTER TABLE "TranscriptSegment" ADD COLUMN     "decoding" TEXT;
