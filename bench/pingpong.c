/* The physical floor of a cross-thread round trip: two threads bounce a
 * token through two eventfds, each blocking in poll() as an event loop does.
 * Prints the mean microseconds per round trip. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int to_worker, to_loop;
static long rounds;

static void wait_and_take(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t value;
    poll(&p, 1, -1);
    if (read(fd, &value, sizeof value) != sizeof value) exit(1);
}

static void signal_fd(int fd) {
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) != sizeof one) exit(1);
}

static void *worker(void *unused) {
    (void)unused;
    for (long i = 0; i < rounds; i++) { wait_and_take(to_worker); signal_fd(to_loop); }
    return NULL;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 100000;
    to_worker = eventfd(0, 0);
    to_loop = eventfd(0, 0);
    pthread_t thread;
    pthread_create(&thread, NULL, worker, NULL);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < rounds; i++) { signal_fd(to_worker); wait_and_take(to_loop); }
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(thread, NULL);
    double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3;
    printf("%.3f\n", us / rounds);
    return 0;
}
