/* The live decision stream: subscribers, their bounded queues, and
 * control_publish. A record is formatted once and shared (reference
 * counted) by every queue it sits in; the per-subscriber "dropped" count is
 * added when the event loop copies it out. The publisher holds the hub's
 * mutex only to append pointers, never across I/O: a slow subscriber costs
 * it nothing but the record it loses. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "gatekeeper/control.h"
#include "gatekeeper/proto.h"

struct control_rec {
	atomic_uint refs;
	size_t len;
	char text[];
};

struct queued {
	struct control_rec *rec;
	unsigned long long dropped;   /* records lost just before this one */
};

struct control_sub {
	struct control_sub *next;
	struct queued *q;
	unsigned head, len;
	unsigned long long dropped_since;
};

struct control_hub {
	pthread_mutex_t lock;
	atomic_uint n_subs;
	struct control_sub *subs;
	unsigned max_subs, qcap;
	int wake_fd;
	atomic_ullong dropped_total;
};

struct control_hub *control_hub_new(unsigned max_subs, unsigned qcap, int wake_fd)
{
	struct control_hub *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->max_subs = max_subs;
	h->qcap = qcap ? qcap : 1;
	h->wake_fd = wake_fd;
	return h;
}

static void rec_put(struct control_rec *r)
{
	if (atomic_fetch_sub(&r->refs, 1) == 1)
		free(r);
}

static void sub_free(struct control_hub *h, struct control_sub *s)
{
	for (unsigned i = 0; i < s->len; i++)
		rec_put(s->q[(s->head + i) % h->qcap].rec);
	free(s->q);
	free(s);
}

void control_hub_free(struct control_hub *h)
{
	if (!h)
		return;
	while (h->subs) {
		struct control_sub *s = h->subs;
		h->subs = s->next;
		sub_free(h, s);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
}

struct control_sub *control_hub_add(struct control_hub *h)
{
	struct control_sub *s = calloc(1, sizeof(*s));
	if (s)
		s->q = calloc(h->qcap, sizeof(*s->q));
	if (!s || !s->q) {
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&h->lock);
	if (atomic_load(&h->n_subs) >= h->max_subs) {
		pthread_mutex_unlock(&h->lock);
		free(s->q);
		free(s);
		return NULL;
	}
	s->next = h->subs;
	h->subs = s;
	atomic_fetch_add(&h->n_subs, 1);
	pthread_mutex_unlock(&h->lock);
	return s;
}

void control_hub_remove(struct control_hub *h, struct control_sub *s)
{
	pthread_mutex_lock(&h->lock);
	for (struct control_sub **p = &h->subs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			atomic_fetch_sub(&h->n_subs, 1);
			break;
		}
	pthread_mutex_unlock(&h->lock);
	sub_free(h, s);
}

size_t control_hub_take(struct control_hub *h, struct control_sub *s, struct proto_buf *out,
		size_t max_bytes)
{
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	while (s->len && out->len < max_bytes && !out->failed) {
		struct queued e = s->q[s->head];
		s->head = (s->head + 1) % h->qcap;
		s->len--;
		proto_raw(out, e.rec->text, e.rec->len);
		proto_num(out, "dropped", (int64_t)e.dropped);
		proto_raw(out, "\n", 1);
		rec_put(e.rec);
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

static const char *kind_name(int kind)
{
	return kind == CONTROL_KIND_PRESCAN ? "prescan" : kind == CONTROL_KIND_KERNEL ? "kernel" : "exec";
}

static struct control_rec *format_rec(const struct db_audit *a, int kind)
{
	struct proto_buf b = { 0 };
	char hex[GK_SHA256_HEX_LEN + 1] = "";
	if (a->sha256)
		gk_sha256_to_hex(a->sha256, hex);
	proto_num(&b, "time_us", a->time_us);
	proto_str(&b, "kind", kind_name(kind));
	proto_str(&b, "verdict", gk_verdict_name(a->verdict));
	proto_num(&b, "would_deny", a->would_deny);
	proto_str(&b, "source", gk_source_name(a->source));
	proto_str(&b, "detail", a->detail);
	proto_str(&b, "path", a->path);
	proto_str(&b, "exe", a->exe);
	proto_str(&b, "sha256", hex);
	proto_num(&b, "pid", a->pid);
	proto_num(&b, "latency_us", a->latency_us);
	struct control_rec *r = b.failed ? NULL : malloc(sizeof(*r) + b.len);
	if (r) {
		atomic_init(&r->refs, 1);
		r->len = b.len;
		memcpy(r->text, b.data, b.len);
	}
	proto_free(&b);
	return r;
}

void control_hub_publish(struct control_hub *h, const struct db_audit *a, int kind)
{
	if (!h || atomic_load_explicit(&h->n_subs, memory_order_relaxed) == 0)
		return;
	struct control_rec *r = format_rec(a, kind);
	bool wake = false;
	pthread_mutex_lock(&h->lock);
	for (struct control_sub *s = h->subs; s; s = s->next) {
		if (!r || s->len == h->qcap) {
			s->dropped_since++;
			atomic_fetch_add(&h->dropped_total, 1);
			continue;
		}
		wake |= s->len == 0;
		s->q[(s->head + s->len) % h->qcap] = (struct queued){ r, s->dropped_since };
		s->len++;
		s->dropped_since = 0;
		atomic_fetch_add(&r->refs, 1);
	}
	pthread_mutex_unlock(&h->lock);
	if (r)
		rec_put(r);
	if (wake) {
		uint64_t one = 1;   /* an eventfd write never blocks short of 2^64 - 2 */
		(void)!write(h->wake_fd, &one, sizeof(one));
	}
}

void control_hub_counts(struct control_hub *h, unsigned *subscribers, unsigned long long *dropped)
{
	*subscribers = h ? atomic_load(&h->n_subs) : 0;
	*dropped = h ? atomic_load(&h->dropped_total) : 0;
}
