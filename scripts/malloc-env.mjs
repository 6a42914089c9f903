// glibc's allocator settings for processes that run ONNX sessions (`npm start`, the
// benchmarks; the Dockerfiles carry the same values).
//
// MALLOC_MMAP_THRESHOLD_ is the size from which glibc serves a block with its own mmap and
// returns it to the system on free. 32 MiB (glibc's own ceiling for its moving default)
// keeps that for a model's bytes while a session loads (the graphs are 80–210 MB) and for
// the encoder's attention maps, while the decoder's per-step buffers (logits, attention
// scores, K/V rows: 0.1–30 MB) are reused from the heap. At 128 KiB, which this project
// used before, every decoder step mapped and unmapped about 12 MB and page-faulted it back
// in (3,000 faults and 21 ms of kernel time per step at 8 rows), and the batching engine
// ran about 25% slower; the 128 KiB setting holds about 120–150 MiB less per engine
// (README, "Benchmarks").
//
// MALLOC_TRIM_THRESHOLD_ is how much free memory may sit at the top of a heap before glibc
// hands it back to the system. Setting the mmap threshold switches off glibc's habit of
// raising this one along with it, so it stayed at 128 KiB: every prefill's transient
// buffers (the new chunks' cross-attention K/V, 37 MB per chunk for whisper-base, and the
// projections behind them) were returned on free and faulted back in on the next prefill,
// 61,000 faults and about 700 ms for a 3-chunk prefill on a 2-vCPU VM, against 7,400 faults
// and 250 ms at 256 MiB (README, "Benchmarks"). 256 MiB holds a full 8-chunk prefill's.
//
// An operator's own values win.
export const MALLOC_MMAP_THRESHOLD = String(32 * 1024 * 1024);
export const MALLOC_TRIM_THRESHOLD = String(256 * 1024 * 1024);

/**
 * The environment for a child process that runs ONNX sessions: `env` with the thresholds it does not set itself.
 * @template {Record<string, string | undefined>} Env
 * @param {Env} env
 * @returns {Env & { MALLOC_MMAP_THRESHOLD_: string, MALLOC_TRIM_THRESHOLD_: string }}
 */
export function withMallocSettings(env) {
  return /** @type {Env & { MALLOC_MMAP_THRESHOLD_: string, MALLOC_TRIM_THRESHOLD_: string }} */ ({
    MALLOC_MMAP_THRESHOLD_: MALLOC_MMAP_THRESHOLD,
    MALLOC_TRIM_THRESHOLD_: MALLOC_TRIM_THRESHOLD,
    ...env,
  });
}
