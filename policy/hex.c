/* Hex: the one decoder of hexadecimal digests (SHA-256 in policies, hash
 * lists and the admin table; MD5 in dpkg's md5sums), and the SHA-256 printer. */
#include <string.h>

#include "policy/policy.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gk_hex_decode(const char *hex, size_t len, unsigned char *out, size_t size)
{
	if (!hex || len % 2 || len / 2 > size)
		return -1;
	/* Check every digit first (stopping at the first bad one, so a shorter
	 * string's NUL ends the reading): out is written only on success. */
	for (size_t i = 0; i < len; i++)
		if (hex_digit(hex[i]) < 0)
			return -1;
	for (size_t i = 0; i < len / 2; i++)
		out[i] = (unsigned char)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
	return (int)(len / 2);
}

void gk_sha256_to_hex(const unsigned char sha[GK_SHA256_LEN], char hex[GK_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < GK_SHA256_LEN; i++) {
		hex[2 * i] = digits[sha[i] >> 4];
		hex[2 * i + 1] = digits[sha[i] & 0x0f];
	}
	hex[GK_SHA256_HEX_LEN] = '\0';
}

int gk_sha256_from_hex(const char *hex, unsigned char sha[GK_SHA256_LEN])
{
	if (!hex || strnlen(hex, GK_SHA256_HEX_LEN + 1) != GK_SHA256_HEX_LEN)
		return -1;
	return gk_hex_decode(hex, GK_SHA256_HEX_LEN, sha, GK_SHA256_LEN) == GK_SHA256_LEN ? 0 : -1;
}
