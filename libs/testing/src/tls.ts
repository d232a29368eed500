/**
 * A throwaway PKI for TLS tests, made with the openssl CLI (as deploy/tls/gen-dev-certs.sh makes the
 * development one): a CA and certificates it signs, each EC P-256 with SAN DNS:<name>, DNS:localhost and
 * IP:127.0.0.1 and usable as server and as client certificate.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "@longshot/core";
import { findExecutable } from "./processes.js";

export interface TestCertificate {
  /** PEM certificate file. */
  readonly cert: string;
  /** PEM private key file (unencrypted). */
  readonly key: string;
}

export interface TestPki<N extends string = string> {
  /** PEM file of the CA certificate (the trust anchor to give clients and servers). */
  readonly ca: string;
  /** The CA's private key file. */
  readonly caKey: string;
  /** The certificates by the names asked for. */
  readonly certs: Readonly<Record<N, TestCertificate>>;
}

function openssl(bin: string, args: readonly string[]): void {
  try {
    execFileSync(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
    throw new ConfigError(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/**
 * Writes a CA (`<prefix>ca.pem`, `<prefix>ca-key.pem`) and one certificate per name
 * (`<prefix><name>.pem`, `<prefix><name>-key.pem`) into `dir`, which must exist. A different `prefix`
 * in the same directory makes a second, unrelated PKI (e.g. a CA the server does not trust).
 * Throws ConfigError when openssl is not installed or fails.
 */
export function createTestPki<const N extends string>(
  dir: string,
  names: readonly N[],
  options: { prefix?: string } = {},
): TestPki<N> {
  const bin = findExecutable("openssl", ["/usr/bin", "/usr/local/bin"]);
  if (bin === null) throw new ConfigError("openssl is not installed (apt-get install openssl): no test certificates");
  const prefix = options.prefix ?? "";
  const file = (name: string) => path.join(dir, `${prefix}${name}`);
  const ca = file("ca.pem");
  const caKey = file("ca-key.pem");
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(bin, [
    "req",
    "-x509",
    "-new",
    ...curve,
    "-keyout",
    caKey,
    "-out",
    ca,
    "-days",
    "2",
    "-sha256",
    "-subj",
    `/O=longshot test/CN=longshot test CA ${prefix}`.trim(),
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const certs = {} as Record<N, TestCertificate>;
  names.forEach((name, i) => {
    const cert = file(`${name}.pem`);
    const key = file(`${name}-key.pem`);
    const csr = file(`${name}.csr`);
    const ext = file(`${name}.ext`);
    writeFileSync(
      ext,
      [
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        "extendedKeyUsage = serverAuth, clientAuth",
        `subjectAltName = DNS:${name}, DNS:localhost, IP:127.0.0.1`,
        "",
      ].join("\n"),
    );
    openssl(bin, ["req", "-new", ...curve, "-keyout", key, "-out", csr, "-subj", `/O=longshot test/CN=${name}`]);
    openssl(bin, [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca,
      "-CAkey",
      caKey,
      "-set_serial",
      String(1000 + i),
      "-days",
      "2",
      "-sha256",
      "-extfile",
      ext,
      "-out",
      cert,
    ]);
    certs[name] = { cert, key };
  });
  return { ca, caKey, certs };
}
