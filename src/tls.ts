import crypto from 'node:crypto';
import fs from 'node:fs';

/** The certificate and key files of built-in TLS (`TLS_CERT_FILE`, `TLS_KEY_FILE`). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Subject alternative names and expiry, for the log. */
  names: string;
  validTo: string;
}

export class TlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsError';
  }
}

/**
 * Reads and checks a PEM certificate (chain) and its key. A key that does not
 * belong to the certificate fails here, with both file names, instead of as a
 * handshake error in every browser.
 */
export function readTls(files: TlsFiles): TlsMaterial {
  const read = (file: string, variable: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new TlsError(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const cert = read(files.certFile, 'TLS_CERT_FILE');
  const key = read(files.keyFile, 'TLS_KEY_FILE');
  let x509: crypto.X509Certificate;
  let privateKey: crypto.KeyObject;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new TlsError(`TLS_CERT_FILE: ${files.certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (err) {
    throw new TlsError(`TLS_KEY_FILE: ${files.keyFile} is not an unencrypted PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new TlsError(`TLS_KEY_FILE: ${files.keyFile} is not the key of the certificate in ${files.certFile}`);
  return { cert, key, names: x509.subjectAltName ?? x509.subject, validTo: x509.validTo };
}
