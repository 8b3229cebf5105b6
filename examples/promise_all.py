"""promise_all.py — the seed's JavaScript program (tests/seed/promise_all.js)
in Python on gort: each job an "async function" run as a goroutine
(gort.spawn gives its promise), gort.sleep in place of the timeout, and
gort.Promise.all in place of Promise.all. It prints exactly what
`node tests/seed/promise_all.js` prints (tests/seed/check_output.py).

    async function worker(id, job) {
      console.log(`Worker ${id} started job ${job}`);
      await new Promise(resolve => setTimeout(resolve, 100));
      return job * 2;
    }
    async function main() {
      const jobs = [1, 2, 3, 4, 5];
      const workerPromises = jobs.map((job, index) => worker((index % 3) + 1, job));
      const results = await Promise.all(workerPromises);
      results.forEach(res => { console.log(`Result processed: ${res}`); });
    }

Python goroutines all run on one executor thread, in the order they were
spawned, and switch only where they block: the JS event loop's order.
"""
import gort


def worker(id: int, job: int) -> int:
    print(f"Worker {id} started job {job}")
    gort.sleep(0.1)                      # await new Promise(resolve => setTimeout(resolve, 100))
    return job * 2


def main() -> None:
    jobs = [1, 2, 3, 4, 5]
    worker_promises = [gort.spawn(worker, index % 3 + 1, job) for index, job in enumerate(jobs)]
    results = gort.Promise.all(worker_promises).result()   # await Promise.all(workerPromises)
    for res in results:
        print(f"Result processed: {res}")


if __name__ == "__main__":
    main()
