/*
 * A sampler of glibc's malloc, loaded into a process with LD_PRELOAD: every MSTAT_INTERVAL seconds
 * (default 5) it appends one CSV line to MSTAT_FILE: seconds since start, RssAnon (KiB), and
 * mallinfo2()'s arena (bytes the arenas hold), hblkhd (mapped blocks), uordblks (in use), fordblks
 * (free, kept by malloc) and keepcost; and every 60 s malloc_info()'s XML (each arena) to
 * MSTAT_FILE.xml. It tells the heap in use from memory malloc keeps (BENCHMARKS.md, "Differential
 * snapshots"). Its own thread takes an arena of a few KiB.
 *
 *   cc -O2 -shared -fPIC -o /tmp/malloc-sampler.so Benchmarks/Scripts/malloc-sampler.c -lpthread
 *   printf '#!/bin/sh\nexport LD_PRELOAD=/tmp/malloc-sampler.so MSTAT_FILE=/tmp/longrund.mstat\nexec %s "$@"\n' \
 *       "$PWD/.build/release/longrund" > /tmp/longrund-sampled && chmod +x /tmp/longrund-sampled
 *   LONGRUND_RETAIN_SUCCEEDED=30s LONGRUND_COMPACT_LOG_AFTER=60s LONGRUND_SNAPSHOT_EVERY=40000 \
 *       Benchmarks/.build/release/longrun-load run --longrund /tmp/longrund-sampled --workload soak --seconds 420
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static long rss_anon(void) {
    FILE *f = fopen("/proc/self/status", "r"); char line[256]; long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) if (!strncmp(line, "RssAnon:", 8)) { v = atol(line + 8); break; }
    fclose(f); return v;
}
static void *run(void *arg) {
    const char *path = getenv("MSTAT_FILE"); const char *iv = getenv("MSTAT_INTERVAL");
    int interval = iv ? atoi(iv) : 5; if (interval < 1) interval = 1;
    char xml[512]; snprintf(xml, sizeof xml, "%s.xml", path);
    struct timespec t0; clock_gettime(CLOCK_MONOTONIC, &t0);
    FILE *out = fopen(path, "w"); if (!out) return 0;
    fprintf(out, "elapsed_s,rss_anon_kib,arena,hblkhd,uordblks,fordblks,keepcost\n"); fflush(out);
    for (int n = 0;; n++) {
        sleep(interval);
        struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
        double e = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
        struct mallinfo2 m = mallinfo2();
        fprintf(out, "%.0f,%ld,%zu,%zu,%zu,%zu,%zu\n", e, rss_anon(), m.arena, m.hblkhd, m.uordblks, m.fordblks, m.keepcost);
        fflush(out);
        if ((n + 1) * interval % 60 == 0) {
            FILE *x = fopen(xml, "a"); if (x) { fprintf(x, "<!-- t=%.0f -->\n", e); malloc_info(0, x); fclose(x); }
        }
    }
    return 0;
}
__attribute__((constructor)) static void start(void) {
    if (!getenv("MSTAT_FILE")) return;
    pthread_t th; pthread_attr_t a; pthread_attr_init(&a); pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&th, &a, run, 0);
}
