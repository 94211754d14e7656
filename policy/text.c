/* Text: the one rule for what no line of output may show raw (the log, the
 * control client, policy messages), and the UTF-8 decoder it rests on. In
 * policy/ because every program links the policy: the daemon, gatekeeper-ctl
 * and the policy's own tests and fuzzer. */
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

size_t gk_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;   /* bounds of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool gk_control_seq(const unsigned char *p, size_t u)
{
	return !u || *p < 0x20 || *p == 0x7f || (u == 2 && p[0] == 0xc2 && p[1] < 0xa0) ||
	       (u == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9));
}

size_t gk_text_escape(char *out, size_t size, const char *text, size_t len, size_t *taken)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t n = 0, i = 0;
	while (i < len && size) {
		size_t u = gk_utf8_len(p + i, len - i), step = u ? u : 1;
		bool esc = gk_control_seq(p + i, u);
		size_t need = esc ? 4 * step : step;
		if (n + need >= size)
			break;   /* whole characters only, and room for the NUL */
		if (!esc)
			memcpy(out + n, p + i, step), n += step;
		else
			for (size_t k = 0; k < step; k++)
				n += (size_t)snprintf(out + n, size - n, "\\x%02x", p[i + k]);
		i += step;
	}
	if (size)
		out[n] = '\0';
	if (taken)
		*taken = i;
	return n;
}
