/**
 * The flags that point a command at a gateway, shared by `generate` and `list`: --remote HOST:PORT and the TLS
 * files towards it (--tls, --tls-ca, --tls-cert, --tls-key). Parsing only; remote-tls.ts turns them into
 * channel credentials.
 */
import { type OptionSpec, UsageError } from "./args.js";

/** The TLS switches and files, as option specs. */
export const TLS_OPTIONS: Readonly<Record<TlsOption, OptionSpec>> = {
  tls: { value: false },
  "tls-ca": { meta: "FILE" },
  "tls-cert": { meta: "FILE" },
  "tls-key": { meta: "FILE" },
};

type TlsOption = "tls" | "tls-ca" | "tls-cert" | "tls-key";
const TLS_NAMES = Object.keys(TLS_OPTIONS) as TlsOption[];

/** The --tls, --tls-ca, --tls-cert and --tls-key flags of a --remote run (files unchecked). */
export interface TlsFlags {
  /** --tls: TLS even without --tls-ca (the system's root CAs verify the gateway). */
  on: boolean;
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
}

/** --remote's value checked: HOST:PORT or [IPv6]:PORT. Throws UsageError. */
export function remoteAddress(value: string): string {
  if (!/^[^\s:]+:\d{1,5}$/.test(value) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(value)) {
    throw new UsageError("--remote", `must be HOST:PORT, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The TLS flags of a parsed command line; a file flag must name a file. Throws UsageError. */
export function tlsFlags(options: ReadonlyMap<string, string>): TlsFlags {
  const file = (name: TlsOption) => {
    const v = options.get(name);
    if (v !== undefined && v.trim() === "") throw new UsageError(`--${name}`, "must name a PEM file");
    return v;
  };
  return { on: options.has("tls"), caFile: file("tls-ca"), certFile: file("tls-cert"), keyFile: file("tls-key") };
}

/** Throws UsageError on the first TLS flag given, for a command line without --remote. */
export function noTlsWithoutRemote(options: ReadonlyMap<string, string>): void {
  const given = TLS_NAMES.find((f) => options.has(f));
  if (given !== undefined) {
    throw new UsageError(`--${given}`, "applies only with --remote HOST:PORT (TLS towards a gateway)");
  }
}
