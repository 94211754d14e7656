/* Logging: stderr in the foreground, syslog otherwise. A decision is one
 * line of key=value pairs, the same fields as the audit table.
 *
 * No value can forge a line or a field: log_kv quotes and escapes (\" \\
 * \xNN for control bytes, C1 controls, U+2028/9 and bytes that are not
 * UTF-8), and so does log_msg for every %s argument; what is left of its
 * line (the caller's format) still has its control bytes escaped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/proto.h"
#include "gatekeeper/systemd.h"

#define LOG_LINE_MAX 32768

/* Global: every thread logs, and threading a log object through each call
 * would buy nothing; set once by log_init before any thread starts. */
static bool log_to_stderr = true;

void log_init(bool to_stderr)
{
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog("gatekeeperd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* The bytes at p as a log value shows them: how many it takes (*take) and
 * the text (into esc, returned length). */
static size_t escape_at(const unsigned char *p, size_t n, char esc[16], size_t *take)
{
	/* Printable ASCII stands for itself: the common case, decided without
	 * the UTF-8 decoder (every decision line goes through here). */
	if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
		esc[0] = (char)*p;
		*take = 1;
		return 1;
	}
	size_t u = gk_utf8_len(p, n);
	*take = u ? u : 1;
	if (*p == '"' || *p == '\\')
		return (size_t)snprintf(esc, 16, "\\%c", *p);
	if (gk_control_seq(p, u)) {
		size_t len = 0;
		for (size_t i = 0; i < *take; i++)
			len += (size_t)snprintf(esc + len, 16 - len, "\\x%02x", p[i]);
		return len;
	}
	memcpy(esc, p, u);
	return u;
}

/* Whether the n bytes at v, as a bare key=value value, need quotes: empty,
 * or holding a blank, an '=' or a byte that is escaped (a consumer splitting
 * the line at blanks would otherwise read a forged field). */
static bool value_needs_quotes(const unsigned char *v, size_t n)
{
	if (!n)
		return true;
	for (size_t i = 0; i < n;) {
		char esc[16];
		size_t take, elen = escape_at(v + i, n - i, esc, &take);
		if (elen != take || memcmp(esc, v + i, take) || v[i] == ' ' || v[i] == '=')
			return true;
		i += take;
	}
	return false;
}

/* One %s argument (at most max bytes of it), escaped as a log value. Where
 * the format gives it no quotes (bare: right after "key="), it gets its own
 * when it needs them; the closing one always fits. */
static size_t escape_value(char *out, size_t size, const char *s, size_t max, bool bare)
{
	const unsigned char *v = (const unsigned char *)(s ? s : "(null)");
	size_t n = strnlen((const char *)v, max), len = 0;
	bool quote = bare && size >= 3 && value_needs_quotes(v, n);
	if (quote)
		out[len++] = '"';
	for (size_t i = 0; i < n;) {
		char esc[16];
		size_t take, elen = escape_at(v + i, n - i, esc, &take);
		if (len + elen + quote >= size)
			break;
		memcpy(out + len, esc, elen);
		len += elen;
		i += take;
	}
	if (quote)
		out[len++] = '"';
	out[len] = '\0';
	return len;
}

/* One conversion of the format (spec: '%' up to its letter) with its
 * argument; the compiler has checked the types against the format. A
 * conversion this does not know ends the line there (-1). */
static int format_one(char *out, size_t size, const char *spec, size_t spec_len, va_list *ap,
		      bool bare)
{
	char f[24];
	if (spec_len >= sizeof(f) || memchr(spec, '*', spec_len))
		return -1;                      /* no width or precision arguments */
	memcpy(f, spec, spec_len);
	f[spec_len] = '\0';
	char conv = f[spec_len - 1];
	const char *lm = f + strcspn(f, "hljzt");
	bool ll = !strncmp(lm, "ll", 2), l = !ll && *lm == 'l', z = *lm == 'z', j = *lm == 'j',
	     t = *lm == 't';
	const char *dot = strchr(f, '.');
	size_t precision = dot ? strtoul(dot + 1, NULL, 10) : SIZE_MAX;
	switch (conv) {
	case 's':
		return (int)escape_value(out, size, va_arg(*ap, const char *), precision, bare);
	case 'c': {
		char one[2] = { (char)va_arg(*ap, int), '\0' };
		return (int)escape_value(out, size, one, 1, bare);
	}
	case 'd': case 'i':
		return ll ? snprintf(out, size, f, va_arg(*ap, long long))
		     : l ? snprintf(out, size, f, va_arg(*ap, long))
		     : z || t ? snprintf(out, size, f, va_arg(*ap, ptrdiff_t))
		     : j ? snprintf(out, size, f, va_arg(*ap, intmax_t))
			 : snprintf(out, size, f, va_arg(*ap, int));
	case 'u': case 'x': case 'X': case 'o':
		return ll ? snprintf(out, size, f, va_arg(*ap, unsigned long long))
		     : l ? snprintf(out, size, f, va_arg(*ap, unsigned long))
		     : z || t ? snprintf(out, size, f, va_arg(*ap, size_t))
		     : j ? snprintf(out, size, f, va_arg(*ap, uintmax_t))
			 : snprintf(out, size, f, va_arg(*ap, unsigned));
	case 'p':
		return snprintf(out, size, f, va_arg(*ap, void *));
	case '%':
		return snprintf(out, size, "%%");
	default:
		return -1;
	}
}

/* The format is the caller's text and stands as written; every %s is a
 * value from outside (a path, a mount point, a scanner's message) and is
 * escaped, so that it cannot close the quotes the format puts around it and
 * forge a field, nor start a line. A %s right after "key=" outside the
 * format's quotes is quoted when it holds a blank, so that it cannot add a
 * field either. */
static void format_line(char *line, size_t size, const char *fmt, va_list ap)
{
	if (!size)
		return;
	va_list args;
	va_copy(args, ap);
	size_t len = 0;
	bool in_quotes = false;
	for (const char *p = fmt; *p && len + 1 < size;) {
		if (*p != '%') {
			in_quotes ^= *p == '"';
			line[len++] = *p++;
			continue;
		}
		bool bare = !in_quotes && p > fmt && p[-1] == '=';
		size_t n = 1 + strspn(p + 1, "-+ #0123456789.*");
		n += strspn(p + n, "hljzt");
		if (!p[n])
			break;
		int w = format_one(line + len, size - len, p, n + 1, &args, bare);
		if (w < 0)
			break;
		len += (size_t)w < size - len ? (size_t)w : size - len - 1;
		p += n + 1;
	}
	line[len] = '\0';
	va_end(args);
}

void log_format(char *line, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	format_line(line, size, fmt, ap);
	va_end(ap);
}

void log_line(enum gk_log_level level, const char *line)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char out[LOG_LINE_MAX + 2];
	size_t n = strlen(line), len = 0;
	/* The bytes a caller put in its own format, or in a line of log_kv
	 * values: stray control bytes or broken UTF-8 are escaped all the same. */
	for (size_t i = 0; i < n;) {
		const unsigned char *p = (const unsigned char *)line + i;
		char esc[16];
		size_t take, elen = (*p == '"' || *p == '\\') ? (take = 1, esc[0] = (char)*p, 1)
							    : escape_at(p, n - i, esc, &take);
		if (len + elen > LOG_LINE_MAX)
			break;
		memcpy(out + len, esc, elen);
		len += elen;
		i += take;
	}
	out[len] = '\0';
	if (log_to_stderr) {
		/* one fprintf per line: lines from several threads never interleave.
		 * The journal takes a "<N>" prefix as the line's priority. */
		out[len] = '\n';
		out[len + 1] = '\0';
		if (journal_active())
			fprintf(stderr, "<%d>%s", prio[level], out);
		else
			fputs(out, stderr);
		fflush(stderr);
	} else {
		syslog(prio[level], "%s", out);
	}
}

void log_msg(enum gk_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	format_line(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_line(level, line);
}

static void append(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + n >= size)
		n = *len < size - 1 ? size - 1 - *len : 0;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

void log_kv(char *buf, size_t size, size_t *len, const char *key, const char *value)
{
	const unsigned char *v = (const unsigned char *)(value ? value : "");
	size_t n = strlen((const char *)v);
	/* one value may take a quarter of a long line: the keys after it stay */
	size_t cap = size >= 4096 ? size / 4 : size;
	bool quote = n > cap || value_needs_quotes(v, n);
	if (*len)
		append(buf, size, len, " ", 1);
	append(buf, size, len, key, strlen(key));
	append(buf, size, len, "=", 1);
	if (!quote && *len + n < size) {
		append(buf, size, len, (const char *)v, n);
		return;
	}
	append(buf, size, len, "\"", 1);
	size_t used = 0;
	for (size_t i = 0; i < n;) {
		char esc[16];
		size_t take, elen = escape_at(v + i, n - i, esc, &take);
		/* cut between escapes, say so, and still close the quote */
		if (used + elen > cap || *len + elen + 5 > size) {
			append(buf, size, len, "...", 3);
			break;
		}
		append(buf, size, len, esc, elen);
		used += elen;
		i += take;
	}
	append(buf, size, len, "\"", 1);
}

static int64_t clock_us(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t gk_now_us(void) { return clock_us(CLOCK_REALTIME); }
int64_t gk_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
int64_t gk_cpu_us(void) { return clock_us(CLOCK_PROCESS_CPUTIME_ID); }

void gk_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

struct timespec gk_deadline_in_ms(clockid_t clk, int ms)
{
	struct timespec t;
	clock_gettime(clk, &t);
	t.tv_nsec += (long)ms * 1000000L;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}
