import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCert {
  certFile: string;
  keyFile: string;
  /** base64 sha256 of the public key: Chromium's --ignore-certificate-errors-spki-list trusts exactly this key. */
  spki: string;
  fingerprint: string;
}

/** A self-signed certificate for `names` (DNS names and 127.0.0.1), made with openssl. */
export function makeCert(dir: string, label: string, names: string[]): TestCert {
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, `${label}.crt`);
  const keyFile = path.join(dir, `${label}.key`);
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile], {
    stdio: 'ignore',
  });
  const pem = fs.readFileSync(certFile);
  const spki = crypto.createHash('sha256').update(crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' })).digest('base64');
  return { certFile, keyFile, spki, fingerprint: new crypto.X509Certificate(pem).fingerprint256 };
}
