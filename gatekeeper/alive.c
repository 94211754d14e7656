/* The watchdog's liveness test. Answered events are counted as events read
 * minus events still pending, so this needs nothing from the worker pool
 * but its counters: a pool whose workers are all wedged stops the count,
 * and the pings stop with it. */
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"

bool alive_event_path_turns(const struct gk_stats *s, struct event_path_probe *p,
			    int64_t now_us, int64_t interval_us)
{
	/* The local path's: a server that stalls remote events holds up only
	 * them (remote.c), and must not get the daemon restarted. */
	uint64_t remote_events = atomic_load(&s->remote_events);
	uint64_t remote_pending = atomic_load(&s->remote_pending), all = atomic_load(&s->pending);
	uint64_t pending = all > remote_pending ? all - remote_pending : 0;
	uint64_t answered = atomic_load(&s->events) - remote_events - pending;
	/* An idle path is a healthy one: the clock restarts at each event. */
	if (pending == 0 || answered != p->answered || p->progress_us == 0) {
		p->answered = answered;
		p->progress_us = now_us;
	}
	return now_us - p->progress_us < interval_us;
}

/* A reader stuck before it admits what it read leaves nothing pending for
 * the count above to see, while the kernel queues execs behind it. */
bool alive_reader_keeps_up(int64_t reader_beat_us, bool events_waiting, int64_t now_us,
			   int64_t interval_us)
{
	return !events_waiting || now_us - reader_beat_us < interval_us;
}
