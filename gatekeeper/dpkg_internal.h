/* Shared by dpkg.c and dpkg_status.c only; everyone else uses dpkg.h. */
#ifndef GK_DPKG_INTERNAL_H
#define GK_DPKG_INTERNAL_H

#include "gatekeeper/dpkg.h"

/* The whole file, NUL-terminated. 1: it does not exist; -1: err filled. */
int dpkg_slurp(const char *path, char **out, size_t *len, char *err, size_t errlen);
/* Next line in place (its newline becomes NUL); NULL at the end. */
char *dpkg_next_line(char **cursor, char *end);

/* 32 hex digits into md5 (dpkg.c). */
bool dpkg_parse_md5(const char *hex, unsigned char md5[DPKG_MD5_LEN]);
/* qsort order of struct dpkg_file: by path (dpkg.c). */
int dpkg_cmp_file(const void *a, const void *b);

/* An md5sums file's lines as files with digests (dpkg.c). */
int dpkg_read_md5sums(const char *file, struct dpkg_package *out, char *err, size_t errlen);

#endif
