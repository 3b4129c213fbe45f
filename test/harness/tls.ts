import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A self-signed certificate for 127.0.0.1 and its key (PEM), made by openssl in `dir`; the certificate is its own CA. */
export interface TestCertificate {
  readonly certFile: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * A certificate for a stand-in API served over HTTPS, as the real one is: kubectl sends a bearer token over HTTPS
 * only, and the agent checks the server against its CA file.
 */
export function testCertificate(dir: string): TestCertificate {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile];
  const subject = ['-subj', '/CN=kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1'];
  execFileSync('openssl', ['req', '-x509', ...newKey, '-out', certFile, '-days', '1', ...subject], { stdio: 'pipe' });
  return { certFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}
