import type { ReactNode } from "react";

export type Stat = { label: string; value: ReactNode; /** data-stat hook for tests and styling */ key?: string };

/** Label/value pairs laid out as a grid (a <dl>). */
export function StatList({ stats }: { stats: readonly Stat[] }) {
  return (
    <dl className="stats">
      {stats.map((stat) => (
        <div key={stat.label}>
          <dt>{stat.label}</dt>
          <dd data-stat={stat.key}>{stat.value}</dd>
        </div>
      ))}
    </dl>
  );
}
