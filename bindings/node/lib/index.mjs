// ESM entry: the CommonJS module as the default export, plus named exports.
import { createRequire } from 'module';
const gort = createRequire(import.meta.url)('./index.js');
export default gort;
export const { Chan, select, after, Ticker, sleep, WaitGroup, Mutex, Promise, fromHandle, procs,
  goroutines, errors, version } = gort;
