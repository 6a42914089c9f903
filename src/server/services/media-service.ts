import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import { Readable } from "node:stream";
import type { Db } from "../db/client";
import type { MediaFile } from "../db/models";
import { MEDIA_COLUMNS, toMediaFile } from "../db/sql/row-mappers";
import { sql, type BatchStep, type SqlClient } from "../db/sql/sql-client";
import { AppError, PermanentJobError } from "../errors";
import { contentTypeOfFormat } from "../media/content-types";
import { probeMedia, type MediaInfo } from "../media/probe-media";
import { BlobTooLargeError, type BlobStore, type StoredBlob } from "../storage/blob-store";
import { parseSrt } from "../subtitles/srt";

/** Uploads named *.srt are subtitles (for fix_srt), not media. */
export function isSubtitleName(name: string): boolean {
  return /\.srt$/i.test(name.trim());
}

const QUOTED_MEDIA_COLUMNS = MEDIA_COLUMNS.map((column) => `"${column}"`).join(", ");
const INSERT_MEDIA = `INSERT INTO "MediaFile" (${QUOTED_MEDIA_COLUMNS}) VALUES (${MEDIA_COLUMNS.map(() => "?").join(", ")})`;
const SELECT_MEDIA = `SELECT ${QUOTED_MEDIA_COLUMNS} FROM "MediaFile" WHERE "id" = ?`;

/** What the uploader says of a file, and whose it is (null: an operator's, or no keys). */
export type UploadMeta = { originalName: string; contentType: string | null; userId?: string | null };

/**
 * An upload stored and probed whose row is not written yet: the job that uses it writes the
 * row in its own transaction, so a job and its media exist together or not at all.
 */
export type StagedMedia = { media: MediaFile; insert: BatchStep };

export type MediaLimits = {
  /** bytes */
  maxUploadBytes: number;
  /** bytes: subtitle files are parsed in memory. */
  maxSrtBytes: number;
  /** The longest media accepted (s). */
  maxAudioSeconds: number;
};

/** Hz: below this a "WAV" is not audio anyone speaks into (a 36 KB file at 1 Hz claims 10 hours). */
const MIN_SAMPLE_RATE_HZ = 2000;

/**
 * Turns an upload stream into a stored blob and a MediaFile row.
 *
 * Blobs are content-addressed and shared by every row with the same bytes, so nothing here
 * deletes a blob when a row goes: an identical upload may be between storing its bytes and
 * writing its row at that moment. Unreferenced blobs are removed only by
 * `sweepUnreferencedBlobs`, once they have been untouched for a grace period (a `put` of
 * bytes already stored renews the blob's modification time).
 */
export class MediaService {
  constructor(
    private readonly db: Db,
    private readonly sql: SqlClient,
    private readonly blobs: BlobStore,
    private readonly limits: MediaLimits,
  ) {}

  /** Stores, probes and records an upload. */
  async ingest(source: Readable, meta: UploadMeta, signal?: AbortSignal): Promise<MediaFile> {
    return this.record(await this.stage(source, meta, signal));
  }

  /** Writes a staged upload's row on its own (an upload no job uses yet). */
  async record(staged: StagedMedia): Promise<MediaFile> {
    await this.sql.run(staged.insert);
    return staged.media;
  }

  /**
   * Streams an upload into the blob store and probes it, so that corrupt, empty and non-media
   * files are a 400 before any job exists; the row is returned unwritten (see StagedMedia).
   */
  async stage(source: Readable, meta: UploadMeta, signal?: AbortSignal): Promise<StagedMedia> {
    const subtitles = isSubtitleName(meta.originalName);
    const [maxBytes, limitName] = subtitles && this.limits.maxSrtBytes < this.limits.maxUploadBytes ? [this.limits.maxSrtBytes, "MAX_SRT_BYTES"] : [this.limits.maxUploadBytes, "MAX_UPLOAD_BYTES"];
    let stored;
    try {
      stored = await this.blobs.put(source, { maxBytes, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (error instanceof BlobTooLargeError) {
        throw new AppError("PAYLOAD_TOO_LARGE", `The file is larger than the ${subtitles ? "subtitle " : ""}upload limit of ${maxBytes} bytes (${limitName})`);
      }
      throw error;
    }
    if (stored.sizeBytes === 0) throw new AppError("BAD_REQUEST", "The uploaded file is empty (0 bytes)");
    // Probing here turns a corrupt or non-media upload into an immediate 400 instead of a
    // failed job later; WAV headers are read in-process, other formats cost one ffprobe.
    // Subtitle files (.srt) are parsed instead, so a broken one is refused the same way.
    // A refused file's blob is left to the sweep (see the class comment).
    const info = subtitles ? await this.readSubtitles(stored.key) : await this.probeUpload(stored, signal);
    // The type is what our probe found: the client's claim is not trusted (it is served back).
    return this.outputRecord(stored, { ...meta, contentType: contentTypeOfFormat(info.format, meta.originalName) }, info);
  }

  /** Stores a file a job produced (a corrected SRT, a converted video) as a new media file. */
  async storeOutput(bytes: Buffer, meta: UploadMeta, info: MediaInfo): Promise<MediaFile> {
    return this.record(await this.stageOutput(bytes, meta, info));
  }

  /**
   * Stores the bytes of a job's output and returns its media row with the INSERT that
   * records it, for the job's completion transaction: the row exists only if the job
   * completes, once, however many attempts produced the same bytes.
   */
  async stageOutput(bytes: Buffer, meta: UploadMeta, info: MediaInfo): Promise<{ media: MediaFile; insert: BatchStep }> {
    const stored = await this.blobs.put(Readable.from([bytes]), { maxBytes: Number.MAX_SAFE_INTEGER });
    return this.outputRecord(stored, meta, info);
  }

  /** The media row and its INSERT for a blob a worker already stored (a converted file). */
  outputRecord(stored: StoredBlob, meta: UploadMeta, info: MediaInfo): { media: MediaFile; insert: BatchStep } {
    const media = mediaRow(stored, meta, info);
    return { media, insert: sql(INSERT_MEDIA, ...MEDIA_COLUMNS.map((column) => media[column])) };
  }

  /** A local path holding the file (downloaded first from a remote blob store). */
  localPath(media: MediaFile): Promise<string> {
    return this.blobs.localPath(media.blobKey);
  }

  /** The bytes of a stored file (subtitles; media is read by path). */
  async read(media: MediaFile): Promise<Buffer> {
    return fs.readFile(await this.blobs.localPath(media.blobKey));
  }

  private async readSubtitles(key: string): Promise<MediaInfo> {
    const text = (await fs.readFile(await this.blobs.localPath(key))).toString("utf8");
    const cues = parseSrt(text);
    if (cues.length === 0) throw new AppError("BAD_REQUEST", "The SRT file has no cues");
    // A loop, not Math.max(...cues): spreading a million cues overflows the call stack.
    let durationS = 0;
    for (const cue of cues) durationS = Math.max(durationS, cue.endS);
    return { format: "srt", durationS, sampleRateHz: null, channels: null, audioCodec: null, hasAudio: false };
  }

  private async probeUpload(stored: StoredBlob, signal?: AbortSignal): Promise<MediaInfo> {
    let info: MediaInfo;
    try {
      info = await probeMedia(await this.blobs.localPath(stored.key), signal, stored.head ? { head: { bytes: stored.head, fileSize: stored.sizeBytes } } : {});
    } catch (error) {
      if (error instanceof PermanentJobError) throw new AppError("BAD_REQUEST", error.message);
      throw error;
    }
    if (!(info.durationS > 0)) throw new AppError("BAD_REQUEST", "The media contains no audio samples (its duration is 0 s)");
    if (info.durationS > this.limits.maxAudioSeconds) {
      throw new AppError("PAYLOAD_TOO_LARGE", `The media lasts ${Math.round(info.durationS)} s, longer than the limit of ${this.limits.maxAudioSeconds} s (MAX_AUDIO_SECONDS)`);
    }
    if (info.sampleRateHz !== null && info.sampleRateHz < MIN_SAMPLE_RATE_HZ) {
      throw new AppError("BAD_REQUEST", `The audio's sample rate of ${info.sampleRateHz} Hz is below ${MIN_SAMPLE_RATE_HZ} Hz: it is not speech audio`);
    }
    return info;
  }

  async find(id: string): Promise<MediaFile | null> {
    const rows = await this.sql.all(sql(SELECT_MEDIA, id));
    return rows[0] ? toMediaFile(rows[0]) : null;
  }

  /** The owner (userId, null: unowned) of each media file of `ids` that exists. */
  async ownersOf(ids: readonly string[]): Promise<Map<string, string | null>> {
    const owners = new Map<string, string | null>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += SQL_IN_CHUNK) {
      const rows = await this.db.mediaFile.findMany({ where: { id: { in: unique.slice(i, i + SQL_IN_CHUNK) } }, select: { id: true, userId: true } });
      for (const row of rows) owners.set(row.id, row.userId);
    }
    return owners;
  }

  async get(id: string): Promise<MediaFile> {
    const media = await this.find(id);
    if (!media) throw new AppError("NOT_FOUND", `Media file not found: ${id}`);
    return media;
  }

  uri(media: MediaFile): string {
    return this.blobs.uri(media.blobKey);
  }

  /** Deletes media rows no job references any more (their blobs go with the next sweep). */
  async deleteOrphans(mediaFileIds: string[]): Promise<void> {
    const ids = [...new Set(mediaFileIds)];
    for (let i = 0; i < ids.length; i += SQL_IN_CHUNK) {
      await this.db.mediaFile.deleteMany({ where: { id: { in: ids.slice(i, i + SQL_IN_CHUNK) }, jobs: { none: {} } } });
    }
  }

  /**
   * Deletes the blobs no media row references that were last written before `olderThan`.
   * The grace period covers an upload between storing its bytes and writing its row; a blob
   * is checked again (modification time, then references) right before it goes, so a
   * concurrent identical upload keeps it. Returns how many were deleted.
   */
  async sweepUnreferencedBlobs(olderThan: Date): Promise<number> {
    let deleted = 0;
    let candidates: string[] = [];
    const flush = async () => {
      // By sha256 (indexed): a content key is `sha256/ab/cd/<sha256>`.
      const referenced = new Set(
        (await this.db.mediaFile.findMany({ where: { sha256: { in: candidates.map(shaOfKey) } }, select: { sha256: true }, distinct: ["sha256"] })).map((row) => row.sha256),
      );
      for (const key of candidates) {
        if (referenced.has(shaOfKey(key))) continue;
        const modifiedAt = await this.blobs.modifiedAt(key);
        if (modifiedAt === null || modifiedAt >= olderThan) continue;
        if ((await this.db.mediaFile.count({ where: { sha256: shaOfKey(key) } })) > 0) continue;
        await this.blobs.delete(key);
        deleted += 1;
      }
      candidates = [];
    };
    for await (const blob of this.blobs.listContent()) {
      if (blob.modifiedAt >= olderThan) continue;
      candidates.push(blob.key);
      if (candidates.length >= SQL_IN_CHUNK) await flush();
    }
    if (candidates.length) await flush();
    return deleted;
  }
}

function shaOfKey(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

/** Keys per `IN (...)` list: well under SQLite's and PostgreSQL's bound-parameter limits. */
const SQL_IN_CHUNK = 500;

function mediaRow(stored: StoredBlob, meta: UploadMeta, info: MediaInfo): MediaFile {
  return {
    id: randomUUID(),
    blobKey: stored.key,
    sha256: stored.sha256,
    originalName: sanitizeName(meta.originalName),
    contentType: meta.contentType,
    sizeBytes: BigInt(stored.sizeBytes),
    durationS: info.durationS,
    format: info.format,
    sampleRateHz: info.sampleRateHz,
    channels: info.channels,
    userId: meta.userId ?? null,
    createdAt: new Date(),
  };
}

/** Keeps the base name only, without control characters, at most 255 characters. */
function sanitizeName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 255);
  return clean || "upload";
}
