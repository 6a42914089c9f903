import type { Engine, EngineFactory, EngineInfo } from "../server/asr/engine";

/** A set of engine slots held by one job; release exactly once. */
export type EngineLease = {
  readonly jobId: string;
  readonly engines: Engine[];
  release(): void;
};

export type CapacitySnapshot = {
  maxEngines: number;
  usedEngines: number;
  unusedEngines: number;
  activeJobs: { jobId: string; parallelEngines: number }[];
};

/**
 * The fixed engine slots of one worker (`--parallel`). Slots are created lazily, once
 * each, and reused; acquisition is synchronous so a capacity check and the reservation
 * that follows it cannot be interleaved with another request.
 */
export class EnginePool {
  private readonly slots: (Engine | null)[];
  private readonly free: number[];
  private readonly leases = new Map<string, { parallelEngines: number; slotIndexes: number[] }>();
  private engineInfo: EngineInfo | null = null;
  private closed = false;

  constructor(
    readonly size: number,
    private readonly createEngine: EngineFactory,
  ) {
    this.slots = Array.from({ length: size }, () => null);
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
  }

  /** Creates every slot's engine now so start-up fails fast when the engine cannot run here. */
  async warmUp(): Promise<EngineInfo> {
    for (let i = 0; i < this.size; i++) await this.engineAt(i);
    return this.info();
  }

  info(): EngineInfo {
    if (!this.engineInfo) throw new Error("Engine pool not warmed up");
    return this.engineInfo;
  }

  get unused(): number {
    return this.free.length;
  }

  /** Reserves `count` slots for `jobId`, or returns null when fewer are free. */
  tryReserve(jobId: string, count: number): { slotIndexes: number[] } | null {
    if (this.closed || count > this.free.length || this.leases.has(jobId)) return null;
    const slotIndexes = this.free.splice(this.free.length - count, count);
    this.leases.set(jobId, { parallelEngines: count, slotIndexes });
    return { slotIndexes };
  }

  /** Turns a reservation into engines (creating slots on first use). */
  async materialize(jobId: string): Promise<EngineLease> {
    const reservation = this.leases.get(jobId);
    if (!reservation) throw new Error(`No engine reservation for job ${jobId}`);
    let released = false;
    try {
      const engines = await Promise.all(reservation.slotIndexes.map((index) => this.engineAt(index)));
      return {
        jobId,
        engines,
        release: () => {
          if (released) return;
          released = true;
          this.release(jobId);
        },
      };
    } catch (error) {
      this.release(jobId);
      throw error;
    }
  }

  /** Returns a reservation's slots without having used them. */
  release(jobId: string): void {
    const reservation = this.leases.get(jobId);
    if (!reservation) return;
    this.leases.delete(jobId);
    this.free.push(...reservation.slotIndexes);
  }

  snapshot(): CapacitySnapshot {
    const activeJobs = [...this.leases.entries()].map(([jobId, lease]) => ({ jobId, parallelEngines: lease.parallelEngines }));
    return {
      maxEngines: this.size,
      usedEngines: this.size - this.free.length,
      unusedEngines: this.free.length,
      activeJobs,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.slots.map((engine) => engine?.close()));
  }

  private async engineAt(index: number): Promise<Engine> {
    const existing = this.slots[index];
    if (existing) return existing;
    const engine = await this.createEngine();
    this.slots[index] = engine;
    this.engineInfo ??= engine.info;
    return engine;
  }
}
