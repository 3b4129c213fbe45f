import { SocketAddress } from 'node:net';

/**
 * 4 or 6 when `text` is one IPv4 or IPv6 address, else 0. node:net's isIP() answers the same, but its IPv6 regular
 * expression takes ~4 ms to compile on first use, a tenth of what synth itself does; SocketAddress parses with libuv.
 * libuv stops at a NUL byte and accepts zone ids (fe80::1%eth0), which fail2ban does not know, hence the character
 * check first.
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (!/^[0-9A-Fa-f.:]+$/.test(text)) {
    return 0;
  }
  const family = text.includes(':') ? 6 : 4;
  try {
    new SocketAddress({ address: text, family: `ipv${family}` });
    return family;
  } catch {
    return 0;
  }
}
