/* spawn_bench's spec file: one condition per line (see spawn_bench.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spawn_bench.h"

int load_target(struct cond *c)
{
	struct stat st;
	int fd = open(c->target, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0)
		goto cleanup;
	c->fresh_len = (size_t)st.st_size;
	c->fresh_bytes = malloc(c->fresh_len ? c->fresh_len : 1);
	if (!c->fresh_bytes || read(fd, c->fresh_bytes, c->fresh_len) != (ssize_t)c->fresh_len)
		goto cleanup;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Parse one spec line (modified in place; the strings stay in it). */
static int parse_line(char *line, struct cond *c, const char *file, int lineno)
{
	char *field[4 + MAX_ARGS];
	int n = 0;
	char *save = NULL, *end;

	for (char *tok = strtok_r(line, "\t\n", &save); tok && n < 4 + MAX_ARGS;
	     tok = strtok_r(NULL, "\t\n", &save))
		field[n++] = tok;
	memset(c, 0, sizeof(*c));
	c->copy = -1;
	if (n < 4) {
		fprintf(stderr, "%s:%d: need NAME ITERS MODE TARGET, tab-separated\n", file, lineno);
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s", field[0]);
	c->iters = strtol(field[1], &end, 10);
	if (*end || c->iters < 1 || c->iters > 1000000) {
		fprintf(stderr, "%s:%d: ITERS '%s' is not a number from 1 to 1000000\n", file, lineno,
			field[1]);
		return -1;
	}
	c->mode = !strcmp(field[2], "plain") ? MODE_PLAIN : !strcmp(field[2], "flush") ? MODE_FLUSH :
		  !strcmp(field[2], "fresh") ? MODE_FRESH : (enum mode)-1;
	if ((int)c->mode < 0 || (c->mode == MODE_FLUSH && n < 5) || (c->mode == MODE_PLAIN && n > 4) ||
	    (c->mode == MODE_FRESH && n > 5)) {
		fprintf(stderr, "%s:%d: MODE '%s' must be plain, fresh [STAGE_DIR], or flush COMMAND...\n",
			file, lineno, field[2]);
		return -1;
	}
	c->target = field[3];
	if (c->mode == MODE_FRESH && n == 5)
		c->stage_dir = field[4];
	for (int i = 4; c->mode == MODE_FLUSH && i < n; i++)
		c->flush_argv[i - 4] = field[i];
	if (c->mode == MODE_FRESH && load_target(c) < 0) {
		fprintf(stderr, "%s:%d: cannot read %s: %s\n", file, lineno, c->target, strerror(errno));
		return -1;
	}
	return 0;
}

int read_spec(const char *file, struct cond *conds, int *n_conds, char **text)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, n = 0, rc = -1;

	if (!f) {
		fprintf(stderr, "spawn_bench: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n == MAX_CONDS) {
			fprintf(stderr, "%s:%d: more than %d conditions\n", file, lineno, MAX_CONDS);
			goto cleanup;
		}
		text[n] = strdup(line);
		if (!text[n] || parse_line(text[n], &conds[n], file, lineno) < 0)
			goto cleanup;
		n++;
	}
	*n_conds = n;
	rc = n > 0 ? 0 : -1;
	if (n == 0)
		fprintf(stderr, "%s: no conditions\n", file);
cleanup:
	free(line);
	fclose(f);
	return rc;
}
