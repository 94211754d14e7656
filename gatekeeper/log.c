/* Logging: stderr in the foreground, syslog otherwise. A decision is one
 * line of key=value pairs, the same fields as the audit table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "gatekeeper/gatekeeperd.h"

/* Global: every thread logs, and threading a log object through each call
 * would buy nothing; set once by log_init before any thread starts. */
static bool log_to_stderr = true;

void log_init(bool to_stderr)
{
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog("gatekeeperd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_msg(enum gk_log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_stderr) {
		/* one fputs per line: lines from several threads never interleave */
		char out[8200];
		snprintf(out, sizeof(out), "%s\n", line);
		fputs(out, stderr);
		fflush(stderr);
	} else {
		syslog(prio[level], "%s", line);
	}
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
	if (!value)
		value = "";
	bool quote = *value == '\0' || strpbrk(value, " \"\\=") != NULL;
	for (const char *p = value; *p && !quote; p++)
		quote = (unsigned char)*p < 0x20 || *p == 0x7f;
	if (*len)
		append(buf, size, len, " ", 1);
	append(buf, size, len, key, strlen(key));
	append(buf, size, len, "=", 1);
	if (!quote) {
		append(buf, size, len, value, strlen(value));
		return;
	}
	append(buf, size, len, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
		else
			snprintf(esc, sizeof(esc), "%c", *p);
		append(buf, size, len, esc, strlen(esc));
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
