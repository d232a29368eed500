/**
 * TLS towards a gateway for `generate --remote` and `list --remote`: the PEM files from the flags or the
 * environment, the gRPC channel credentials made from them, and a failed handshake explained.
 */
import { LongshotError } from "@longshot/core";
import { type ChannelCredentials, GrpcCallError, GrpcTlsError, grpcClientCredentials } from "@longshot/proto";
import { UsageError } from "./args.js";
import type { TlsFlags } from "./remote-flags.js";

/** How the CLI talks to the gateway: plaintext, or TLS (mutual when it presents a client certificate). */
export interface RemoteTls {
  readonly mode: "plaintext" | "tls" | "mutual-tls";
  /** Undefined for plaintext. */
  readonly credentials: ChannelCredentials | undefined;
}

/**
 * The channel credentials of a --remote run. Each file comes from its flag, else from the environment
 * (as deploy/docker/healthcheck.mjs reads them): --tls-ca / LONGSHOT_GRPC_TLS_CA (the CA that signs the
 * gateway's certificate), --tls-cert / LONGSHOT_GRPC_TLS_CERT and --tls-key / LONGSHOT_GRPC_TLS_KEY (a
 * client certificate, for a gateway that requires one). TLS is on with a CA or --tls (the system's
 * root CAs). Throws UsageError naming the flag or variable when a setting is missing, unreadable or
 * not PEM, or a client certificate is given without TLS.
 */
function pickTlsFiles(flags: TlsFlags, env: NodeJS.ProcessEnv) {
  const pick = (flag: string, fromFlag: string | undefined, variable: string) => {
    if (fromFlag !== undefined) return { file: fromFlag, name: `--${flag}` };
    const fromEnv = env[variable];
    return fromEnv === undefined || fromEnv === "" ? undefined : { file: fromEnv, name: variable };
  };
  return {
    ca: pick("tls-ca", flags.caFile, "LONGSHOT_GRPC_TLS_CA"),
    cert: pick("tls-cert", flags.certFile, "LONGSHOT_GRPC_TLS_CERT"),
    key: pick("tls-key", flags.keyFile, "LONGSHOT_GRPC_TLS_KEY"),
  };
}

/** The PEM files a --remote run's TLS uses (flags, else the environment); checked by {@link remoteTls}. */
export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export function remoteTlsFiles(flags: TlsFlags, env: NodeJS.ProcessEnv): TlsFiles {
  const { ca, cert, key } = pickTlsFiles(flags, env);
  return {
    ...(ca === undefined ? {} : { caFile: ca.file }),
    ...(cert === undefined ? {} : { certFile: cert.file }),
    ...(key === undefined ? {} : { keyFile: key.file }),
  };
}

export function remoteTls(flags: TlsFlags, env: NodeJS.ProcessEnv): RemoteTls {
  const { ca, cert, key } = pickTlsFiles(flags, env);
  if (!flags.on && ca === undefined) {
    const client = cert ?? key;
    if (client !== undefined) {
      throw new UsageError(
        client.name,
        "a client certificate needs TLS: give --tls-ca FILE (the CA of the gateway's certificate) or --tls (the system's root CAs)",
      );
    }
    return { mode: "plaintext", credentials: undefined };
  }
  try {
    const credentials = grpcClientCredentials({
      caFile: ca?.file,
      certFile: cert?.file,
      keyFile: key?.file,
      names: {
        caFile: ca?.name ?? "--tls-ca",
        certFile: cert?.name ?? "--tls-cert",
        keyFile: key?.name ?? "--tls-key",
      },
    });
    return { mode: cert === undefined ? "tls" : "mutual-tls", credentials };
  } catch (err) {
    if (err instanceof GrpcTlsError) throw new UsageError(err.setting, err.problem);
    throw err;
  }
}

/** Openssl's and Node's words for a failed TLS handshake in an UNAVAILABLE status. */
const TLS_FAILURE_RE = /SSL routines|certificate|wrong version number|handshake/i;

/**
 * A failed TLS handshake as an error that says which setting to look at, or undefined when `err` is
 * something else. Such a failure is not retried: the next attempt meets the same certificates.
 */
export function tlsFailure(err: unknown, remote: string): LongshotError | undefined {
  if (!(err instanceof GrpcCallError) || err.code !== "UNAVAILABLE" || !TLS_FAILURE_RE.test(err.details)) {
    return undefined;
  }
  const why = err.details
    .replace(/^No connection established\. Last error: (Error: )?/, "")
    .replace(/\s*Resolution note:.*$/s, "")
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/, "")
    .replace(/\s+/g, " ")
    .replace(/[\s.:]+$/, "");
  const hint = /certificate required/i.test(why)
    ? "the gateway requires a client certificate: give --tls-cert FILE --tls-key FILE"
    : /wrong version number/i.test(why)
      ? "the gateway does not seem to serve TLS: leave out --tls-ca / --tls (and LONGSHOT_GRPC_TLS_CA)"
      : /verify|self.signed|certificate/i.test(why)
        ? "the gateway's certificate is not signed by the CA given: give the one that signed it with --tls-ca FILE"
        : "check --tls-ca, --tls-cert and --tls-key";
  return new LongshotError(`${remote}: TLS handshake failed (${why}); ${hint}`, {
    code: "UNAVAILABLE",
    cause: err,
  });
}
