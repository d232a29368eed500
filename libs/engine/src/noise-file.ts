/**
 * Initial noise from a safetensors file (e.g. the Python reference's `noise.safetensors`), for
 * `GenerateOptions.noise`: tensors named "keyframes", "interp1", "interp2", … of float32 `[1, C, F, h, w]`.
 * Shapes are checked against the pack when the generation starts (`resolveGenerateOptions`).
 */
import { readFile } from "node:fs/promises";
import { InvalidArgumentError, NotFoundError } from "@longshot/core";
import { decodeSafetensors, type Tensor } from "@longshot/tensor";

export async function readNoiseFile(file: string): Promise<Record<string, Tensor>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new NotFoundError(`noise file ${file} does not exist`, { cause: err });
    }
    throw new InvalidArgumentError("noise", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let tensors: Record<string, Tensor>;
  try {
    tensors = decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).tensors;
  } catch (err) {
    throw new InvalidArgumentError("noise", `${file} is not a valid safetensors file: ${(err as Error).message}`, {
      cause: err,
    });
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== "float32") {
      throw new InvalidArgumentError(`noise.${name}`, `${file}: must be float32 (F32), got ${t.dtype}`);
    }
  }
  return tensors;
}
