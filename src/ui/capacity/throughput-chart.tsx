import { formatDuration } from "../format";
import type { RouterOutputs } from "../trpc";

type ThroughputBucket = RouterOutputs["system"]["throughput"]["buckets"][number];

const WIDTH = 720;
const HEIGHT = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 36 };

/** Files finished per interval as stacked bars (done, failed), drawn as plain SVG. */
export function ThroughputChart({ buckets, bucketMs }: { buckets: readonly ThroughputBucket[]; bucketMs: number }) {
  const max = Math.max(1, ...buckets.map((bucket) => bucket.done + bucket.failed));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const barW = innerW / Math.max(1, buckets.length);
  const y = (value: number) => PAD.top + innerH - (value / max) * innerH;
  const ticks = [0, Math.ceil(max / 2), max].filter((value, i, all) => all.indexOf(value) === i);
  const labelEvery = Math.ceil(buckets.length / 6);
  const totalDone = buckets.reduce((sum, bucket) => sum + bucket.done, 0);
  const totalFailed = buckets.reduce((sum, bucket) => sum + bucket.failed, 0);
  const totalAudio = buckets.reduce((sum, bucket) => sum + bucket.audioS, 0);
  const minutes = Math.round(bucketMs / 60_000);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`Files finished per ${minutes} minutes: ${totalDone} done, ${totalFailed} failed`}>
        {ticks.map((tick) => (
          <g key={tick}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} className="chart-grid" />
            <text x={PAD.left - 6} y={y(tick) + 4} textAnchor="end" className="chart-label">
              {tick}
            </text>
          </g>
        ))}
        {buckets.map((bucket, i) => {
          const x = PAD.left + i * barW + 1;
          const w = Math.max(1, barW - 2);
          return (
            <g key={bucket.start.getTime()}>
              <title>{`${bucket.start.toLocaleTimeString()}: ${bucket.done} done, ${bucket.failed} failed, ${formatDuration(bucket.audioS)} of audio`}</title>
              <rect x={x} y={y(bucket.done)} width={w} height={y(0) - y(bucket.done)} className="chart-done" />
              <rect x={x} y={y(bucket.done + bucket.failed)} width={w} height={y(bucket.done) - y(bucket.done + bucket.failed)} className="chart-failed" />
              {i % labelEvery === 0 ? (
                <text x={x + w / 2} y={HEIGHT - 8} textAnchor="middle" className="chart-label">
                  {bucket.start.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span className="legend legend-done">done</span> <span className="legend legend-failed">failed</span> · {totalDone} files and {formatDuration(totalAudio)} of audio in this window
      </figcaption>
      <details>
        <summary>Show as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">Done</th>
              <th scope="col">Failed</th>
              <th scope="col">Audio</th>
            </tr>
          </thead>
          <tbody>
            {buckets.map((bucket) => (
              <tr key={bucket.start.getTime()}>
                <td>{bucket.start.toLocaleTimeString()}</td>
                <td>{bucket.done}</td>
                <td>{bucket.failed}</td>
                <td>{formatDuration(bucket.audioS)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
