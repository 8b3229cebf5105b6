'use strict';
// Runs the Promises/A+ suite against gort.Promise in this process (mocha
// inside promises-aplus-tests); prints "aplus: P passed, F failed" and exits
// with status 1 unless every test passed. Used by aplus.test.js.
const path = require('path');
const aplus = require(require.resolve('promises-aplus-tests',
  { paths: [path.join(__dirname, '..'), process.cwd()] }));
const adapter = require('./aplus-adapter');
process.on('unhandledRejection', () => {}); // the suite leaves some rejections unhandled on purpose
// mocha's 200 ms default is tight on a loaded machine: the suite's own
// timers are 50-100 ms, a test that really never settles still fails.
aplus(adapter, { reporter: process.env.APLUS_REPORTER || 'dot', timeout: 5000 }, (err) => {
  const failed = err ? (err.failures || 1) : 0;
  console.log(`aplus: ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
