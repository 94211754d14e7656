/* Printing replies (text or JSON) and reading and writing times. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/ctl/ctl.h"
#include "policy/policy.h"

/* Always valid JSON: a byte that is not UTF-8 becomes a lone surrogate
 * \udcXX (Python's surrogateescape: os.fsencode() gives the path's bytes
 * back), so a file name can neither break a reader nor be confused. */
void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	const unsigned char *p = (const unsigned char *)s;
	for (size_t n = strlen(s); *p;) {
		size_t u = gk_utf8_len(p, n - (size_t)(p - (const unsigned char *)s));
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else if (!u)
			fprintf(out, "\\udc%02x", *p);
		else
			fwrite(p, 1, u, out);
		p += u ? u : 1;
	}
	fputc('"', out);
}

void print_json(FILE *out, const struct field *f, size_t n)
{
	fputc('{', out);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(f[k].key, f[i].key);
		if (seen)
			continue;
		fputs(first ? "" : ",", out);
		first = false;
		json_string(out, f[i].key);
		fputc(':', out);
		if (!strcmp(f[i].key, "ok")) {
			fputs(strcmp(f[i].value, "0") ? "true" : "false", out);
		} else if (f[i].type == 'a') {
			fputc('[', out);
			for (size_t k = i, m = 0; k < n; k++)
				if (!strcmp(f[k].key, f[i].key)) {
					fputs(m++ ? "," : "", out);
					json_string(out, f[k].value);
				}
			fputc(']', out);
		} else if (f[i].type == 'n') {
			fputs(f[i].value, out);
		} else {
			json_string(out, f[i].value);
		}
	}
	fputs("}\n", out);
}

/* Text from the daemon (file names, details, errors) on a terminal: one
 * value stays on its line and cannot drive the terminal. A newline prints
 * as \n; whatever else gk_control_seq flags (control bytes, C1 controls,
 * the line and paragraph separators, bytes that are not UTF-8) as \xNN.
 * --json gives the exact bytes back. */
void put_clean(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	for (size_t left = strlen((const char *)p); *p;) {
		size_t u = gk_utf8_len(p, left);
		if (*p == '\n') {
			fputs("\\n", out);
		} else if (gk_control_seq(p, u)) {
			for (size_t k = 0; k < (u ? u : 1); k++)
				fprintf(out, "\\x%02x", p[k]);
		} else {
			fwrite(p, 1, u, out);
		}
		size_t step = u ? u : 1;
		p += step;
		left -= step;
	}
}

static void print_human(const char *verb, const struct field *f, size_t n)
{
	bool show = !strcmp(verb, "policy-show");
	/* policy show: the header to stderr, so stdout is the policy byte for
	 * byte and `policy show > p.yaml; policy apply p.yaml` is exact */
	FILE *out = show ? stderr : stdout;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].key, "ok"))
			continue;
		if (show && !strcmp(f[i].key, "text"))
			continue;
		fputs(show ? "# " : "", out);
		put_clean(out, f[i].key);
		fputs(": ", out);
		put_clean(out, f[i].value);
		fputc('\n', out);
	}
	for (size_t i = 0; show && i < n; i++)
		if (!strcmp(f[i].key, "text"))
			fputs(f[i].value, stdout);
}

int ctl_report(const struct ctl *c, const char *verb, struct reply *r)
{
	if (c->json) {
		print_json(stdout, r->f, r->n);
	} else if (r->error) {
		bool listed = false;
		for (size_t i = 0; i < r->n; i++)
			if (!strcmp(r->f[i].key, "errors")) {
				put_clean(stderr, r->f[i].value);
				fputc('\n', stderr);
				listed = true;
			}
		if (!listed) {
			fputs("gatekeeper-ctl: ", stderr);
			put_clean(stderr, r->error);
			fputc('\n', stderr);
		}
	} else {
		print_human(verb, r->f, r->n);
	}
	return r->code;
}

void format_time_us(int64_t us, char *out, size_t size)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "10m", "2h ago", "-1d": that long before now. */
static int parse_relative(const char *s, int64_t now_us, int64_t *out_us)
{
	char *end;
	if (*s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	long long n = strtoll(s, &end, 10);
	int64_t unit;
	switch (*end) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return -1;
	}
	end++;
	while (*end == ' ')
		end++;
	if (*end && strcmp(end, "ago"))
		return -1;
	*out_us = now_us - (int64_t)n * unit * 1000000;
	return 0;
}

int parse_time(const char *s, int64_t *out_us)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	char *end;
	if (!strcmp(s, "now")) {
		*out_us = now_us;
		return 0;
	}
	if (parse_relative(s, now_us, out_us) == 0)
		return 0;
	const char *num = s[0] == '@' ? s + 1 : s;
	if (isdigit((unsigned char)*num)) {
		long long secs = strtoll(num, &end, 10);
		if (!*end) {
			*out_us = (int64_t)secs * 1000000;
			return 0;
		}
	}
	static const char *const formats[] = {
		"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d",
	};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm = { 0 };
		end = strptime(s, formats[i], &tm);
		if (end && (!*end || !strcmp(end, "Z"))) {
			*out_us = (int64_t)timegm(&tm) * 1000000;   /* times are UTC, as printed */
			return 0;
		}
	}
	return -1;
}
