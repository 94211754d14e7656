/* Decision latency histogram: 64 power-of-two ranges of microseconds, each
 * split into 8 linear sub-buckets (at most 12.5% error on a percentile). */
#include "gatekeeper/gatekeeperd.h"

static unsigned bucket_of(uint64_t us)
{
	if (us < 8)
		return (unsigned)us;
	unsigned msb = 63 - (unsigned)__builtin_clzll(us);
	unsigned sub = (unsigned)(us >> (msb - 3)) & 7;
	return (msb - 2) * 8 + sub;
}

static uint64_t bucket_upper(unsigned b)
{
	if (b < 8)
		return b;
	unsigned msb = b / 8 + 2, sub = b % 8;
	return ((8ull + sub + 1) << (msb - 3)) - 1;
}

void stats_record_latency(struct gk_stats *s, uint64_t us)
{
	unsigned b = bucket_of(us);
	if (b >= sizeof(s->latency_hist) / sizeof(s->latency_hist[0]))
		b = sizeof(s->latency_hist) / sizeof(s->latency_hist[0]) - 1;
	atomic_fetch_add(&s->latency_hist[b], 1);
	atomic_fetch_add(&s->latency_sum_us, us);
}

uint64_t stats_latency_below_pow2(const struct gk_stats *s, uint64_t *below, unsigned n)
{
	const size_t nb = sizeof(s->latency_hist) / sizeof(s->latency_hist[0]);
	uint64_t total = 0;
	for (unsigned k = 0; k < n; k++)
		below[k] = 0;
	for (size_t b = 0; b < nb; b++) {
		uint64_t c = atomic_load(&s->latency_hist[b]), upper = bucket_upper((unsigned)b);
		total += c;
		for (unsigned k = 0; k < n && c; k++)
			if (k >= 64 || upper < (1ull << k))
				below[k] += c;
	}
	return total;
}

uint64_t stats_latency_percentile(const struct gk_stats *s, double pct)
{
	const size_t n = sizeof(s->latency_hist) / sizeof(s->latency_hist[0]);
	uint64_t total = 0, seen = 0;
	for (size_t i = 0; i < n; i++)
		total += atomic_load(&s->latency_hist[i]);
	if (!total)
		return 0;
	uint64_t rank = (uint64_t)(pct / 100.0 * (double)total + 0.999999);
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < n; i++) {
		seen += atomic_load(&s->latency_hist[i]);
		if (seen >= rank)
			return bucket_upper((unsigned)i);
	}
	return bucket_upper((unsigned)n - 1);
}
