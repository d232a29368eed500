/**
 * A small line chart written as SVG by hand (no plotting dependency): panels side by side, each with a
 * categorical x axis (frame counts) and a linear y axis from 0, one polyline with dots per series, and a legend.
 */

export interface Series {
  name: string;
  /** x label → value; x labels missing from a series leave a gap. */
  points: ReadonlyMap<string, number>;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  /** Categories in order (e.g. "17", "65", "257"). */
  x: string[];
  panels: Panel[];
}

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
const DASHES = ["", "6 4", "2 3", "8 3 2 3", ""];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function num(x: number): string {
  return (Math.round(x * 10) / 10).toString();
}

/** Tick values 0, step, 2·step, … covering `max`, with step 1, 2 or 5 × 10^k and at most 6 intervals. */
export function niceTicks(max: number): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => max / s <= 6) ?? 10 * mag;
  const n = Math.ceil(max / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return `${num(v / 1000)}k`;
  return Math.abs(v) < 1 ? v.toPrecision(2).replace(/0+$/, "") : num(v);
}

export function renderChart(spec: ChartSpec): string {
  const panelW = 360;
  const panelH = 260;
  const margin = { left: 56, right: 16, top: 44, bottom: 44 };
  const legendH = 22;
  const width = spec.panels.length * panelW;
  const height = panelH + legendH + 8;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<title>${esc(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  const names = [...new Set(spec.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const style = (name: string) => {
    const i = names.indexOf(name);
    return { colour: COLOURS[i % COLOURS.length] as string, dash: DASHES[i % DASHES.length] as string };
  };
  spec.panels.forEach((panel, pi) => {
    const x0 = pi * panelW + margin.left;
    const x1 = (pi + 1) * panelW - margin.right;
    const y0 = panelH - margin.bottom;
    const y1 = margin.top;
    const values = panel.series.flatMap((s) => [...s.points.values()]);
    const ticks = niceTicks(Math.max(0, ...values) * 1.05);
    const top = ticks[ticks.length - 1] as number;
    const sx = (i: number) =>
      spec.x.length === 1 ? (x0 + x1) / 2 : x0 + 20 + (i * (x1 - x0 - 40)) / (spec.x.length - 1);
    const sy = (v: number) => y0 - (v / top) * (y0 - y1);
    out.push(`<g>`);
    out.push(
      `<text x="${(x0 + x1) / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(panel.title)}</text>`,
    );
    for (const t of ticks) {
      const y = num(sy(t));
      out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`);
    }
    out.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333"/>`);
    out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#333"/>`);
    spec.x.forEach((label, i) => {
      out.push(`<line x1="${num(sx(i))}" y1="${y0}" x2="${num(sx(i))}" y2="${y0 + 4}" stroke="#333"/>`);
      out.push(`<text x="${num(sx(i))}" y="${y0 + 16}" text-anchor="middle">${esc(label)}</text>`);
    });
    out.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 34}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
    out.push(
      `<text transform="translate(${x0 - 42} ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${esc(panel.yLabel)}</text>`,
    );
    for (const s of panel.series) {
      const { colour, dash } = style(s.name);
      const pts = spec.x
        .map((label, i) => (s.points.has(label) ? [sx(i), sy(s.points.get(label) as number)] : null))
        .filter((p): p is number[] => p !== null);
      if (pts.length === 0) continue;
      if (pts.length > 1) {
        out.push(
          `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""} points="${pts.map(([x, y]) => `${num(x as number)},${num(y as number)}`).join(" ")}"/>`,
        );
      }
      for (const [x, y] of pts)
        out.push(`<circle cx="${num(x as number)}" cy="${num(y as number)}" r="3.5" fill="${colour}"/>`);
    }
    out.push(`</g>`);
  });
  // Legend, centred under the panels.
  const itemW = 200;
  const lx = Math.max(8, (width - names.length * itemW) / 2);
  const ly = panelH + 6;
  names.forEach((name, i) => {
    const { colour, dash } = style(name);
    const x = lx + i * itemW;
    out.push(
      `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`,
    );
    out.push(`<circle cx="${x + 12}" cy="${ly}" r="3.5" fill="${colour}"/>`);
    out.push(`<text x="${x + 30}" y="${ly}" dominant-baseline="middle">${esc(name)}</text>`);
  });
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
