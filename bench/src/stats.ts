/** Small numeric helpers shared by the suite and its report. */

/** Median of the values (mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Bytes → MB (2^20 bytes), one decimal. */
export function toMB(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

/** Milliseconds → seconds, three decimals. */
export function toSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}
