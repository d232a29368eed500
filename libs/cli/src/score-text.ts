/** The eval probe's score in one line, as `generate` and `probe` print it. */
import type { ProbeScore } from "@longshot/probe";

export function describeScore(s: ProbeScore): string {
  const part = (name: string, got: string | null, want: string | null, ok: boolean) =>
    `${name} ${got ?? "none"} ${ok ? "ok" : `(wanted ${want ?? "none"})`}`;
  return [
    part("colour", s.got.colour, s.want.colour, s.colourOk),
    part("shape", s.got.shape, s.want.shape, s.shapeOk),
    part("motion", s.got.motion, s.want.motion, s.motionOk),
    part("background", s.got.background, s.want.background, s.backgroundOk),
    `smooth ${s.smooth ? "ok" : "no"} (max step ratio ${Number.isFinite(s.maxStepRatio) ? s.maxStepRatio.toFixed(2) : "inf"})`,
  ].join(", ");
}
