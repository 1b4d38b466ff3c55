/** A line chart of a few series over time, as SVG: labelled for screen readers with its latest values. */
export interface Series {
  name: string;
  points: Array<[number, number]>;
}

const WIDTH = 480;
const HEIGHT = 140;
const PAD = 28;

export function LineChart({ title, series, unit = '' }: { title: string; series: Series[]; unit?: string }) {
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const minX = Math.min(...xs, Date.now() - 60_000);
  const maxX = Math.max(...xs, minX + 1);
  const maxY = Math.max(1, ...ys);
  const x = (value: number): number => PAD + ((value - minX) / (maxX - minX)) * (WIDTH - 2 * PAD);
  const y = (value: number): number => HEIGHT - PAD - (value / maxY) * (HEIGHT - 2 * PAD);
  const latest = series.map((s) => `${s.name} ${format(s.points.at(-1)?.[1] ?? 0)}${unit}`).join(', ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}: ${latest || 'no data yet'}`}>
        <line x1={PAD} y1={HEIGHT - PAD} x2={WIDTH - PAD} y2={HEIGHT - PAD} class="axis" />
        <line x1={PAD} y1={PAD} x2={PAD} y2={HEIGHT - PAD} class="axis" />
        <text x={4} y={PAD + 4} class="tick">
          {format(maxY)}
        </text>
        <text x={4} y={HEIGHT - PAD} class="tick">
          0
        </text>
        {series.map((s, i) => (
          <polyline key={s.name} class={`line line-${i % 4}`} points={s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')} />
        ))}
      </svg>
      <p class="legend">
        {series.map((s, i) => (
          <span key={s.name} class={`key key-${i % 4}`}>
            {s.name}: {format(s.points.at(-1)?.[1] ?? 0)}
            {unit}
          </span>
        ))}
      </p>
    </figure>
  );
}

function format(value: number): string {
  if (value >= 100 || Number.isInteger(value)) return value.toFixed(0);
  return value.toFixed(2);
}
