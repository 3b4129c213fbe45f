'use strict';
// With timings from an earlier run, jest starts the slowest suites first; a clean clone (as in CI) has none, and
// jest goes by file size instead, which can leave a 15-second suite for last on two cores. The suites that start a
// real fail2ban-server are the slow ones: they go first either way, in jest's own order among themselves.
const fs = require('node:fs');
const Sequencer = require('@jest/test-sequencer').default;

const STARTS_FAIL2BAN = /\b(Fail2banLab|Fail2banServers|describeSharingLab)\b|'fail2ban-server'/;

class Fail2banFirst extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const slow = sorted.filter((test) => STARTS_FAIL2BAN.test(fs.readFileSync(test.path, 'utf8')));
    return [...slow, ...sorted.filter((test) => !slow.includes(test))];
  }
}

module.exports = Fail2banFirst;
