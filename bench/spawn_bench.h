/* spawn_bench's conditions, shared by its runner (spawn_bench.c) and its
 * spec file parser (spawn_spec.c). */
#ifndef GK_BENCH_SPAWN_BENCH_H
#define GK_BENCH_SPAWN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_CONDS 32
#define MAX_ARGS 16
#define MAX_ROUNDS 1000
#define SETTLE_NS (25 * 1000000L)   /* pause between blocks */

enum mode { MODE_PLAIN, MODE_FLUSH, MODE_FRESH };

struct cond {
	char name[64];
	long iters;
	enum mode mode;
	char *target;
	char *flush_argv[MAX_ARGS + 1];
	char *stage_dir;                  /* MODE_FRESH: where to write before the rename */
	unsigned char *fresh_bytes;       /* TARGET's content, for MODE_FRESH and --copies */
	size_t fresh_len;
	int64_t *samples;                 /* ns, all rounds */
	size_t n_samples, cap_samples;
	int64_t *seq;                     /* --interleave: ns or -1, in cycle order */
	size_t n_seq;
	long copy;                        /* --copies: which copy the next exec runs; -1: TARGET */
	int64_t round_median[MAX_ROUNDS];
	long failed;
	char first_failure[160];
};

struct options {
	long rounds, warmup, storm, copies;
	bool hog, interleave;
};

/* Read FILE's conditions into conds[0..*n_conds); the strings stay in
 * text[i] (freed by the caller). Errors are printed with FILE:LINE. */
int read_spec(const char *file, struct cond *conds, int *n_conds, char **text);

/* TARGET's bytes into c->fresh_bytes (for fresh files and --copies). */
int load_target(struct cond *c);

#endif
