/* policy: read a policy file (or an fd handed over the control socket) and
 * pass its text to policy_parse. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy_internal.h"

/* Reads the whole regular file behind fd into a fresh NUL-terminated buffer. */
static char *read_policy_fd(int fd, const char *name, size_t *len_out,
			    struct gk_policy_errors *errs)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	bool ok = false;

	if (fstat(fd, &st) != 0) {
		policy_error_plain(errs, name, "cannot stat: %s", strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		policy_error_plain(errs, name, "not a regular file%s",
				   S_ISDIR(st.st_mode) ? " (it is a directory)" : "");
		goto cleanup;
	}
	if (st.st_size > GK_POLICY_MAX_BYTES) {
		policy_error_plain(errs, name, "file is %lld bytes; the limit is %d",
				   (long long)st.st_size, GK_POLICY_MAX_BYTES);
		goto cleanup;
	}
	/* One byte more than the limit notices a file that grew after fstat. */
	buf = malloc(GK_POLICY_MAX_BYTES + 2);
	if (!buf) {
		policy_error_plain(errs, name, "out of memory");
		goto cleanup;
	}
	while (len <= GK_POLICY_MAX_BYTES) {
		ssize_t n = pread(fd, buf + len, GK_POLICY_MAX_BYTES + 1 - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			policy_error_plain(errs, name, "cannot read: %s", strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > GK_POLICY_MAX_BYTES) {
		policy_error_plain(errs, name, "file is larger than the limit of %d bytes",
				   GK_POLICY_MAX_BYTES);
		goto cleanup;
	}
	buf[len] = '\0';
	*len_out = len;
	ok = true;
cleanup:
	if (!ok) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

struct gk_policy *policy_load_fd(int fd, const char *name, struct gk_policy_errors *errs)
{
	struct gk_policy_errors local;
	struct gk_policy *policy = NULL;
	size_t len = 0;
	char *text;

	if (!errs)
		errs = &local;
	errs->count = 0;
	if (!name)
		name = "<policy>";
	text = read_policy_fd(fd, name, &len, errs);
	if (text)
		policy = policy_parse(name, text, len, errs);
	free(text);
	return policy;
}

struct gk_policy *policy_load(const char *path, struct gk_policy_errors *errs)
{
	struct gk_policy_errors local;
	struct gk_policy *policy;
	int fd;

	if (!errs)
		errs = &local;
	errs->count = 0;
	if (!path || !*path) {
		policy_error_plain(errs, "<policy>", "no policy file given");
		return NULL;
	}
	/* Symlinks are followed (an /etc/alternatives-style link is fine);
	 * O_NONBLOCK keeps a FIFO from blocking before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		policy_error_plain(errs, path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	policy = policy_load_fd(fd, path, errs);
	close(fd);
	return policy;
}
