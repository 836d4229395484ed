import { formatUsd } from '../../lib/format';

export interface Series {
  name: string;
  /** Cost per day, aligned with `days`. */
  values: number[];
}

// Colors with at least 3:1 contrast against white (non-text contrast).
const COLORS = ['#1f5fbf', '#b3261e', '#2e7d32', '#7b3fa0', '#a15c00', '#00707a', '#5d4037', '#c2185b'];

const W = 720;
const H = 240;
const PAD = { left: 64, right: 16, top: 16, bottom: 32 };

/** Cost per day, one line per series, hand-drawn SVG with a legend. */
export function CostChart({ days, series }: { days: string[]; series: Series[] }) {
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const top = max > 0 ? max * 1.1 : 1;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (days.length <= 1 ? innerW / 2 : (i * innerW) / (days.length - 1));
  const y = (v: number) => PAD.top + innerH - (v / top) * innerH;

  return (
    <figure className="chart">
      <svg role="img" aria-label="Cost per day" viewBox={`0 0 ${W} ${H}`} width="100%" preserveAspectRatio="xMidYMid meet">
        <line x1={PAD.left} y1={PAD.top + innerH} x2={W - PAD.right} y2={PAD.top + innerH} stroke="#6b7280" />
        <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + innerH} stroke="#6b7280" />
        <text x={PAD.left - 6} y={PAD.top + 4} textAnchor="end" fontSize="11" fill="#1f2937">
          {formatUsd(top)}
        </text>
        <text x={PAD.left - 6} y={PAD.top + innerH} textAnchor="end" fontSize="11" fill="#1f2937">
          $0
        </text>
        {days.length > 0 && (
          <>
            <text x={x(0)} y={H - 8} textAnchor="start" fontSize="11" fill="#1f2937">
              {days[0]}
            </text>
            <text x={x(days.length - 1)} y={H - 8} textAnchor="end" fontSize="11" fill="#1f2937">
              {days[days.length - 1]}
            </text>
          </>
        )}
        {series.map((s, index) => {
          const color = COLORS[index % COLORS.length];
          const points = s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
          return (
            <g key={s.name}>
              <polyline points={points} fill="none" stroke={color} strokeWidth="2" />
              {s.values.map((v, i) =>
                v > 0 ? <circle key={days[i]} cx={x(i)} cy={y(v)} r="3" fill={color} /> : null,
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul className="legend" aria-label="Legend">
          {series.map((s, index) => (
            <li key={s.name}>
              <span className="swatch" style={{ background: COLORS[index % COLORS.length] }} aria-hidden="true" />
              {s.name}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
