/**
 * TLS for longshot's gRPC servers and clients, from PEM files.
 *
 * Servers: spread `grpcTlsConfig` into the service's schema (LONGSHOT_GRPC_TLS_CERT / _KEY / _CA, flags
 * --grpc-tls-cert / --grpc-tls-key / --grpc-tls-ca) and pass `grpcServerCredentials(config)` to
 * createGrpcServer. Neither certificate nor key: plaintext. Both: TLS. The CA as well: mutual TLS,
 * every client must present a certificate that CA signed.
 *
 * Clients: `grpcClientCredentials({ caFile, certFile, keyFile })` for createClient / checkHealth.
 *
 * Every file is read and checked at once (readable, PEM, the key belongs to the certificate), so a bad
 * setting stops the process at start-up with a GrpcTlsError naming it, instead of failing every
 * handshake later. File contents never appear in messages or logs; the paths do (they are not secrets).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { type ChannelCredentials, credentials as grpcCredentials, ServerCredentials } from "@grpc/grpc-js";
import { ConfigError, type ConfigValues, defineConfig } from "@longshot/core";

/** The grpc-js credential types, for packages that hold credentials without depending on grpc-js. */
export type { ChannelCredentials, ServerCredentials } from "@grpc/grpc-js";

/** Config fields of a gRPC server's TLS; spread them into a service schema: `defineConfig({ ...grpcTlsConfig, … })`. */
export const grpcTlsConfig = defineConfig({
  grpcTlsCert: {
    type: "string",
    env: "LONGSHOT_GRPC_TLS_CERT",
    flag: "grpc-tls-cert",
    description: "PEM certificate chain of the gRPC server; with --grpc-tls-key it serves TLS (unset: plaintext)",
  },
  grpcTlsKey: {
    type: "string",
    env: "LONGSHOT_GRPC_TLS_KEY",
    flag: "grpc-tls-key",
    description: "PEM private key file of --grpc-tls-cert (unencrypted; readable by this process only)",
  },
  grpcTlsCa: {
    type: "string",
    env: "LONGSHOT_GRPC_TLS_CA",
    flag: "grpc-tls-ca",
    description: "PEM CA bundle: when set, gRPC clients must present a certificate it signed (mutual TLS)",
  },
});

export type GrpcTlsConfig = ConfigValues<typeof grpcTlsConfig>;

/** The TLS fields of a loaded configuration (any schema that spreads grpcTlsConfig). */
export interface GrpcTlsSettings {
  readonly grpcTlsCert?: string | undefined;
  readonly grpcTlsKey?: string | undefined;
  readonly grpcTlsCa?: string | undefined;
}

/** What a gRPC server with these settings serves. */
export type GrpcTlsMode = "plaintext" | "tls" | "mutual-tls";

/** A TLS setting is missing, unreadable or not what it must be. `setting` names it (a variable, a flag). */
export class GrpcTlsError extends ConfigError {
  /** How the setting is named to the user, e.g. "LONGSHOT_GRPC_TLS_KEY (--grpc-tls-key)" or "--tls-ca". */
  readonly setting: string;
  /** What is wrong, without the setting's name. */
  readonly problem: string;
  constructor(setting: string, problem: string, options?: { cause?: unknown }) {
    super(`${setting}: ${problem}`, options);
    this.name = "GrpcTlsError";
    this.setting = setting;
    this.problem = problem;
  }
}

/** How a server setting is named in errors: "LONGSHOT_GRPC_TLS_KEY (--grpc-tls-key)". */
function serverSetting(field: keyof typeof grpcTlsConfig): string {
  const spec = grpcTlsConfig[field];
  return `${spec.env} (--${spec.flag})`;
}

const set = (v: string | undefined): v is string => v !== undefined && v !== "";

/**
 * Which of plaintext, TLS or mutual TLS the settings ask for. Throws GrpcTlsError for a combination
 * that is none of them: a certificate without its key (or the reverse), a client CA without TLS.
 * Reads no file (grpcServerCredentials does).
 */
export function grpcServerTlsMode(config: GrpcTlsSettings): GrpcTlsMode {
  const cert = set(config.grpcTlsCert);
  const key = set(config.grpcTlsKey);
  const ca = set(config.grpcTlsCa);
  if (cert && !key) {
    throw new GrpcTlsError(
      serverSetting("grpcTlsKey"),
      `is not set, but ${serverSetting("grpcTlsCert")} is: serving TLS needs the certificate's private key too (set both, or neither for plaintext)`,
    );
  }
  if (key && !cert) {
    throw new GrpcTlsError(
      serverSetting("grpcTlsCert"),
      `is not set, but ${serverSetting("grpcTlsKey")} is: serving TLS needs the certificate chain too (set both, or neither for plaintext)`,
    );
  }
  if (ca && !cert) {
    throw new GrpcTlsError(
      serverSetting("grpcTlsCa"),
      `is set, but ${grpcTlsConfig.grpcTlsCert.env} and ${grpcTlsConfig.grpcTlsKey.env} are not: client certificates can only be required over TLS (set the server's certificate and key too, or unset the CA)`,
    );
  }
  return !cert ? "plaintext" : ca ? "mutual-tls" : "tls";
}

/**
 * The server credentials of `config`: insecure when neither certificate nor key is set;
 * `ServerCredentials.createSsl` with the certificate and key when both are; with the CA as well,
 * client certificates signed by it are required (`createSsl(ca, pairs, true)`). Throws GrpcTlsError
 * naming the setting when only one of certificate and key is set, a CA is set without them, a file
 * cannot be read or is not PEM, or the key does not belong to the certificate.
 */
export function grpcServerCredentials(config: GrpcTlsSettings): ServerCredentials {
  const mode = grpcServerTlsMode(config);
  if (mode === "plaintext") return ServerCredentials.createInsecure();
  const certFile = config.grpcTlsCert as string;
  const keyFile = config.grpcTlsKey as string;
  const pair = readKeyPair(
    { setting: serverSetting("grpcTlsCert"), file: certFile },
    { setting: serverSetting("grpcTlsKey"), file: keyFile },
  );
  if (mode === "tls") return ServerCredentials.createSsl(null, [pair], false);
  const ca = readCertificates(serverSetting("grpcTlsCa"), config.grpcTlsCa as string, "CA bundle");
  return ServerCredentials.createSsl(ca, [pair], true);
}

export interface GrpcClientTlsOptions {
  /** PEM CA bundle that signs the server's certificate; unset: the system's root CAs. */
  caFile?: string | undefined;
  /** PEM client certificate chain, for servers that require one (mutual TLS); needs keyFile. */
  certFile?: string | undefined;
  /** PEM private key of certFile. */
  keyFile?: string | undefined;
  /** How each file is named in errors (a flag or a variable); default "caFile", "certFile", "keyFile". */
  names?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * TLS channel credentials (`credentials.createSsl`) from PEM files, checked like the server's. Throws
 * GrpcTlsError naming the setting when a certificate comes without its key (or the reverse), a file
 * cannot be read or is not PEM, or the key does not belong to the certificate.
 */
export function grpcClientCredentials(options: GrpcClientTlsOptions = {}): ChannelCredentials {
  const names = {
    caFile: options.names?.caFile ?? "caFile",
    certFile: options.names?.certFile ?? "certFile",
    keyFile: options.names?.keyFile ?? "keyFile",
  };
  const cert = set(options.certFile);
  const key = set(options.keyFile);
  if (cert !== key) {
    const [missing, given] = cert ? [names.keyFile, names.certFile] : [names.certFile, names.keyFile];
    throw new GrpcTlsError(
      missing,
      `is not set, but ${given} is: a client certificate and its private key go together (mutual TLS)`,
    );
  }
  const ca = set(options.caFile) ? readCertificates(names.caFile, options.caFile as string, "CA bundle") : null;
  const pair =
    cert && key
      ? readKeyPair(
          { setting: names.certFile, file: options.certFile as string },
          { setting: names.keyFile, file: options.keyFile as string },
        )
      : undefined;
  return grpcCredentials.createSsl(ca, pair?.private_key ?? null, pair?.cert_chain ?? null);
}

// ---------------------------------------------------------------------------------------------

const CERT_BLOCK_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK_RE = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

function readPemFile(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "is a directory"
            : (err as Error).message;
    throw new GrpcTlsError(setting, `cannot read ${file}: ${why}`, { cause: err });
  }
}

/** Every certificate in a PEM file, each checked to parse; the file's bytes. */
function readCertificates(setting: string, file: string, what: string): Buffer {
  const bytes = readPemFile(setting, file);
  const blocks = bytes.toString("latin1").match(CERT_BLOCK_RE) ?? [];
  if (blocks.length === 0) {
    throw new GrpcTlsError(setting, `${file} is not a PEM ${what} (no "-----BEGIN CERTIFICATE-----" block)`);
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      const which = blocks.length === 1 ? "its certificate" : `certificate ${i + 1} of ${blocks.length}`;
      throw new GrpcTlsError(setting, `${file}: ${which} does not parse: ${(err as Error).message}`, { cause: err });
    }
  });
  return bytes;
}

/** A certificate chain and its private key, checked to belong together, as grpc-js wants them. */
function readKeyPair(
  cert: { setting: string; file: string },
  key: { setting: string; file: string },
): { cert_chain: Buffer; private_key: Buffer } {
  const chain = readCertificates(cert.setting, cert.file, "certificate chain");
  const keyBytes = readPemFile(key.setting, key.file);
  const block = KEY_BLOCK_RE.exec(keyBytes.toString("latin1"));
  if (block === null) {
    throw new GrpcTlsError(
      key.setting,
      `${key.file} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" block)`,
    );
  }
  if (block[1] === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(block[0])) {
    throw new GrpcTlsError(
      key.setting,
      `${key.file} is an encrypted private key; gRPC needs it unencrypted (openssl pkey -in KEY -out PLAIN)`,
    );
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(block[0]);
  } catch (err) {
    throw new GrpcTlsError(key.setting, `${key.file}: the private key does not parse: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // The first certificate of the chain is the server's (or client's) own.
  const leaf = new X509Certificate((chain.toString("latin1").match(CERT_BLOCK_RE) as string[])[0] as string);
  if (!leaf.checkPrivateKey(keyObject)) {
    throw new GrpcTlsError(
      key.setting,
      `${key.file} is not the private key of the certificate in ${cert.file} (${cert.setting}; subject ${leaf.subject.replace(/\n/g, ", ")})`,
    );
  }
  // Only the key block: a file from `openssl ecparam -genkey` also holds an EC PARAMETERS block.
  return { cert_chain: chain, private_key: Buffer.from(block[0], "latin1") };
}
