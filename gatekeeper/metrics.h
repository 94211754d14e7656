/* metrics: the daemon's counters and latency histogram in the Prometheus
 * text exposition format, and the writer of the node_exporter textfile
 * that the policy's `metrics:` section names. */
#ifndef GK_METRICS_H
#define GK_METRICS_H

#include <stdio.h>

struct gk_daemon;

/* Write the exposition to f; -1 if writing failed. */
int metrics_format(struct gk_daemon *d, FILE *f);

/* A thread that rewrites metrics.textfile every metrics.interval_s seconds
 * (through a rename), following policy changes; it does nothing while the
 * policy names no textfile. NULL if the thread cannot start. Stopping a
 * NULL writer is a no-op. */
struct metrics_writer;
struct metrics_writer *metrics_writer_start(struct gk_daemon *d);
void metrics_writer_stop(struct metrics_writer *w);

#endif
