// The seed's Go program (tests/seed/worker_pool.go) in JavaScript with gort:
// three async functions play the goroutines, fed by a buffered jobs channel;
// a WaitGroup closes the results channel when they are done.
const gort = require('gort');

// worker processes incoming jobs from the jobs channel
async function worker(id, jobs, results, wg) {
  try {
    for await (const job of jobs) {
      console.log(`Worker ${id} started job ${job}`);
      await gort.sleep(100); // Simulating an I/O task
      await results.send(job * 2);
    }
  } finally {
    wg.done(); // Signal completion when the worker exits
  }
}

async function main() {
  const numJobs = 5;
  const jobs = new gort.Chan(numJobs);
  const results = new gort.Chan(numJobs);
  const wg = new gort.WaitGroup();

  // Spin up 3 concurrent workers
  for (let w = 1; w <= 3; w++) {
    wg.add(1);
    worker(w, jobs, results, wg);
  }

  // Send jobs to the channel
  for (let j = 1; j <= numJobs; j++) {
    await jobs.send(j);
  }
  jobs.close(); // Closing tells workers no more jobs are coming

  // Wait for all workers to finish in the background
  (async () => {
    await wg.wait();
    results.close();
  })();

  // Collect all results
  for await (const res of results) {
    console.log(`Result processed: ${res}`);
  }
}

main();
