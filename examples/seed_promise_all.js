// The seed's JavaScript program (tests/seed/promise_all.js) on gort's
// engine: gort.Promise, gort.sleep and gort.Promise.all in place of JS's
// own Promise, setTimeout and Promise.all. Same output, line for line.
const gort = require('gort');

// Simulating an asynchronous job
async function worker(id, job) {
  console.log(`Worker ${id} started job ${job}`);
  // Simulating an I/O task (like a database query) with a timer on gort's loop
  await gort.sleep(100);
  return job * 2;
}

async function main() {
  const jobs = [1, 2, 3, 4, 5];
  // Map our jobs into an array of concurrent promises, all started at once.
  const workerPromises = jobs.map((job, index) => {
    const workerId = (index % 3) + 1; // Distribute across 3 simulated workers
    return gort.Promise.resolve(worker(workerId, job));
  });
  // Wait for all of them (gort_promise_all) and collect the results in order
  const results = await gort.Promise.all(workerPromises);
  results.forEach(res => {
    console.log(`Result processed: ${res}`);
  });
}

main();
