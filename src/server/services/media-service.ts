import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import { Readable } from "node:stream";
import type { Db } from "../db/client";
import type { MediaFile } from "../db/models";
import { MEDIA_COLUMNS, toMediaFile } from "../db/sql/row-mappers";
import { sql, type BatchStep, type SqlClient } from "../db/sql/sql-client";
import { AppError, PermanentJobError } from "../errors";
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

export type UploadMeta = { originalName: string; contentType: string | null };

/**
 * An upload stored and probed whose row is not written yet: the job that uses it writes the
 * row in its own transaction, so a job and its media exist together or not at all.
 */
export type StagedMedia = { media: MediaFile; insert: BatchStep };

/** Turns an upload stream into a stored blob and a MediaFile row. */
export class MediaService {
  constructor(
    private readonly db: Db,
    private readonly sql: SqlClient,
    private readonly blobs: BlobStore,
    /** bytes */
    private readonly maxUploadBytes: number,
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

  /** Drops a staged upload whose row was never written: its blob goes unless a row shares it. */
  async discardStaged(staged: StagedMedia): Promise<void> {
    await this.deleteBlobIfUnreferenced(staged.media.blobKey);
  }

  /**
   * Streams an upload into the blob store and probes it, so that corrupt, empty and non-media
   * files are a 400 before any job exists; the row is returned unwritten (see StagedMedia).
   */
  async stage(source: Readable, meta: UploadMeta, signal?: AbortSignal): Promise<StagedMedia> {
    let stored;
    try {
      stored = await this.blobs.put(source, { maxBytes: this.maxUploadBytes, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (error instanceof BlobTooLargeError) {
        throw new AppError("PAYLOAD_TOO_LARGE", `The file is larger than the upload limit of ${this.maxUploadBytes} bytes (MAX_UPLOAD_BYTES)`);
      }
      throw error;
    }
    if (stored.sizeBytes === 0) throw new AppError("BAD_REQUEST", "The uploaded file is empty (0 bytes)");
    // Probing here turns a corrupt or non-media upload into an immediate 400 instead of a
    // failed job later; WAV headers are read in-process, other formats cost one ffprobe.
    // Subtitle files (.srt) are parsed instead, so a broken one is refused the same way.
    let info: MediaInfo;
    try {
      info = isSubtitleName(meta.originalName) ? await this.readSubtitles(stored.key) : await this.probeUpload(stored, signal);
    } catch (error) {
      await this.deleteBlobIfUnreferenced(stored.key);
      throw error;
    }
    return this.outputRecord(stored, meta, info);
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
    return { format: "srt", durationS: Math.max(...cues.map((cue) => cue.endS)), sampleRateHz: null, channels: null, audioCodec: null, hasAudio: false };
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
    return info;
  }

  private async deleteBlobIfUnreferenced(key: string): Promise<void> {
    const sharing = await this.db.mediaFile.count({ where: { blobKey: key } });
    if (sharing === 0) await this.blobs.delete(key);
  }

  async find(id: string): Promise<MediaFile | null> {
    const rows = await this.sql.all(sql(SELECT_MEDIA, id));
    return rows[0] ? toMediaFile(rows[0]) : null;
  }

  async get(id: string): Promise<MediaFile> {
    const media = await this.find(id);
    if (!media) throw new AppError("NOT_FOUND", `Media file not found: ${id}`);
    return media;
  }

  uri(media: MediaFile): string {
    return this.blobs.uri(media.blobKey);
  }

  /** Deletes media rows no job references any more, and their blobs when no other row shares them. */
  async deleteOrphans(mediaFileIds: string[]): Promise<void> {
    for (const id of new Set(mediaFileIds)) {
      const media = await this.db.mediaFile.findUnique({ where: { id }, include: { _count: { select: { jobs: true } } } });
      if (!media || media._count.jobs > 0) continue;
      await this.db.mediaFile.delete({ where: { id } });
      await this.deleteBlobIfUnreferenced(media.blobKey);
    }
  }
}

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
