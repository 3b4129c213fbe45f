import { isIP } from 'node:net';
import { ipFamily } from '../src/model/ip';

const ADDRESSES = ['192.0.2.1', '203.0.113.0', '198.51.100.255', '::', '::1', '2001:db8::1', '2001:db8:0:0:0:0:0:1', '::ffff:203.0.113.7', '2001:DB8::A'];
const NOT_ADDRESSES = ['', 'a', 'example.com', '192.0.2', '192.0.2.1.5', '256.0.2.1', '01.0.2.1', '192.0.2.01', '198.51.100', '0xc0.0.2.1'];
const MALFORMED = ['1::2::3', '2001:db8::g', '2001:db8:0:0:0:0:0:1:2', ' ::1', '192.0.2.1 ', '2001:db8::/32', '192.0.2.0/24'];

test.each([...ADDRESSES, ...NOT_ADDRESSES, ...MALFORMED])('ipFamily(%j) answers as node:net isIP does', (text) => {
  expect(ipFamily(text)).toBe(isIP(text));
});

test('the cases above cover both families and non-addresses', () => {
  expect(new Set(ADDRESSES.map(ipFamily))).toEqual(new Set([4, 6]));
  expect(NOT_ADDRESSES.concat(MALFORMED).map(ipFamily).every((family) => family === 0)).toBe(true);
});

test.each(['fe80::1%eth0', 'fe80::1%1', 'fe80::1%'])('an IPv6 zone id (%j), which fail2ban does not know, is not an address', (text) => {
  expect(ipFamily(text)).toBe(0);
});

test.each(['::1\0x', '192.0.2.1\0x'])('text after a NUL byte (%j) is not ignored', (text) => {
  expect(ipFamily(text)).toBe(0);
});
