/* gatekeeper-ctl's internals, shared by the files of gatekeeper/ctl/ only.
 * The daemon and gatekeeper-ctl share nothing but gatekeeper/proto.h: this
 * program links the protocol and the policy parser (for `policy check` and
 * `policy suggest`), never the daemon's subsystems. */
#ifndef GK_CTL_H
#define GK_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gatekeeper/proto.h"

#define CTL_MAX_FIELDS 256

/* What every verb gets: the global options. */
struct ctl {
	const char *socket_path;
	bool json;
};

struct field {
	char type;             /* 's', 'n' or 'a' (see proto.h) */
	char *key, *value;
};

/* One parsed reply (or one record of a stream), pointing into buf. */
struct reply {
	char *buf;
	struct field f[CTL_MAX_FIELDS];
	size_t n;
	int code;              /* the exit code it carries */
	const char *error;     /* NULL when ok */
};

/* ---- client.c: the connection to gatekeeperd ---- */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Connect to the daemon; returns an EXIT_* code (0 and *out set on success). */
int ctl_connect(const char *path, int *out);
/* Send one request line (with an fd, or -1); 0 or -1 + errno. */
int ctl_send(int s, const char *line, int fd);
/* One round trip: connect, send, read the whole reply, parse it. Returns
 * an EXIT_* code; EXIT_OK means r holds a reply (which may be a refusal:
 * look at r->error). Free with reply_free. */
int ctl_call(const struct ctl *c, const char *line, int fd, struct reply *r);
/* Parse a reply text into r (takes buf); -1 on a garbled line. */
int reply_parse(char *buf, struct reply *r);
/* The same for one record of a multi-record reply (text stays the caller's:
 * r->buf is NULL); lines past CTL_MAX_FIELDS are ignored. */
int reply_parse_record(char *text, struct reply *r);
const char *reply_get(const struct reply *r, const char *key);
int64_t reply_num(const struct reply *r, const char *key, int64_t dflt);
void reply_free(struct reply *r);
/* Open FILE for a request that carries its fd, and build "VERB ABSPATH\n". */
int ctl_open_file(const char *verb, const char *file, char *line, size_t size, int *fd);

/* stream.c: records separated by empty lines (subscribe, log pages). */
struct stream {
	int fd;
	char buf[65536];
	size_t len, start;
	bool eof;
	char rec[65536];       /* the last record's text, parsed in place */
	struct reply last;
	bool again;            /* stream_unread: return `last` once more */
};
/* The next record, blocking up to timeout_ms (-1: forever). Returns 1 with
 * r filled (pointing into st: valid until the next call), 0 on timeout, -1
 * on end of stream or error. Header fields (ok, error, code) come as a
 * record without time_us; callers check r->error. */
int stream_next(struct stream *st, struct reply *r, int timeout_ms);
void stream_unread(struct stream *st);
/* log.c: the live stream of decisions, its header checked (EXIT_*). */
int subscribe_open(const struct ctl *c, struct stream **out);
void stream_close(struct stream *st);
void print_decision(const struct reply *r, bool json);
/* Every audit record since since_us (of that verdict, or NULL: all), oldest
 * first, to fn; EXIT_*. */
typedef void (*log_fn)(void *ctx, const struct reply *r);
int ctl_log_walk(const struct ctl *c, int64_t since_us, const char *verdict, log_fn fn, void *ctx);
/* suggest.c */
int ctl_policy_suggest(const struct ctl *c, int argc, char **argv);

/* ---- output.c ---- */
void json_string(FILE *out, const char *s);
/* Daemon-supplied text for a human: on one line, control bytes as \xNN. */
void put_clean(FILE *out, const char *s);
/* A reply (or record) as one JSON object: numbers stay numbers, 'a' keys
 * become arrays, "ok" a boolean. */
void print_json(FILE *out, const struct field *f, size_t n);
/* Print a reply the way the verb wants it; return the exit code it carries. */
int ctl_report(const struct ctl *c, const char *verb, struct reply *r);
/* Parse a time: seconds since the epoch, @SECONDS, ISO 8601
 * (YYYY-MM-DD[THH:MM[:SS]][Z]), or relative to now: -10m, 2h ago, 1d. */
int parse_time(const char *s, int64_t *out_us);
void format_time_us(int64_t us, char *out, size_t size);

/* ---- the verbs (one file each) ---- */
int verb_simple(const struct ctl *c, int argc, char **argv);   /* simple.c */
int verb_policy(const struct ctl *c, int argc, char **argv);   /* policy.c */
int verb_metrics(const struct ctl *c, int argc, char **argv);  /* metrics.c */
int verb_log(const struct ctl *c, int argc, char **argv);      /* log.c */
int verb_top(const struct ctl *c, int argc, char **argv);      /* top.c */

#endif
