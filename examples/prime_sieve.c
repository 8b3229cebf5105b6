/*
 * prime_sieve.c — Go's concurrent prime sieve (the classic from go.dev),
 * in gort: a generator goroutine feeds 2, 3, 4, ... into a daisy chain of
 * filter goroutines, one per prime found so far, each dropping the
 * multiples of its prime.
 *
 *     func Generate(ch chan<- int) { for i := 2; ; i++ { ch <- i } }
 *     func Filter(in <-chan int, out chan<- int, prime int) {
 *         for i := range in { if i%prime != 0 { out <- i } }
 *     }
 *     func main() {
 *         ch := make(chan int)
 *         go Generate(ch)
 *         for i := 0; i < n; i++ {
 *             prime := <-ch
 *             fmt.Println(prime)
 *             ch1 := make(chan int)
 *             go Filter(ch, ch1, prime)
 *             ch = ch1
 *         }
 *     }
 *
 * Go simply lets the goroutines die with the program. Here main also shuts
 * the pipeline down, the way a long-running Go program would: it closes
 * `quit`, the generator sees it in its select and closes its output, and
 * each filter's range loop ends and closes its own output in turn, while
 * main drains the last channel. A wait group tells main everyone is gone.
 *
 * usage: prime_sieve [n]    (first n primes, default 10)
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>

static gort_chan *quit;           /* closed by main to stop the generator */
static gort_wg wg = GORT_WG_INIT; /* generator + filters */

/* func Generate(ch chan<- int) — owns one reference to ch. */
static void generate(void *arg)
{
    gort_chan *ch = arg;
    for (int i = 2;; i++) {
        gort_case cases[] = {
            {.chan = ch, .dir = GORT_SEND, .elem = &i},      /* case ch <- i: */
            {.chan = quit, .dir = GORT_RECV, .elem = NULL},  /* case <-quit: return */
        };
        if (gort_select(cases, 2, GORT_FOREVER) == 1)
            break;
    }
    gort_chan_close(ch);
    gort_chan_release(ch);
    gort_wg_done(&wg);
}

typedef struct filter_args {
    gort_chan *in, *out; /* one reference each, owned by the filter */
    int        prime;
} filter_args;

/* func Filter(in <-chan int, out chan<- int, prime int) */
static void filter(void *arg)
{
    filter_args *f = arg;
    int i;
    while (gort_chan_recv(f->in, &i) == 0) /* for i := range in */
        if (i % f->prime != 0)
            gort_chan_send(f->out, &i); /* out <- i */
    gort_chan_close(f->out);
    gort_chan_release(f->in);
    gort_chan_release(f->out);
    free(f);
    gort_wg_done(&wg);
}

static void go_main(void *arg)
{
    int n = *(int *)arg;
    quit = gort_chan_make(0, 0); /* chan struct{} */
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    if (quit == NULL || ch == NULL)
        return;

    gort_wg_add(&wg, 1);
    gort_go(generate, gort_chan_retain(ch)); /* go Generate(ch) */
    for (int k = 0; k < n; k++) {
        int prime;
        gort_chan_recv(ch, &prime); /* prime := <-ch */
        printf("%d\n", prime);
        gort_chan *ch1 = gort_chan_make(sizeof(int), 0);
        filter_args *f = malloc(sizeof *f);
        if (ch1 == NULL || f == NULL)
            abort();
        *f = (filter_args){.in = ch, .out = gort_chan_retain(ch1), .prime = prime};
        gort_wg_add(&wg, 1);
        gort_go(filter, f); /* go Filter(ch, ch1, prime): it takes our ch reference */
        ch = ch1;
    }

    gort_chan_close(quit); /* stop the generator ... */
    while (gort_chan_recv(ch, NULL) == 0) {
        /* ... and drain until the close has rippled down the chain */
    }
    gort_wg_wait(&wg);
    gort_chan_release(ch);
    gort_chan_release(quit);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    if (n < 1)
        n = 1;
    return gort_main(go_main, &n) == 0 ? 0 : 1;
}
