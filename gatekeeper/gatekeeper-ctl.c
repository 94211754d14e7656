/* gatekeeper-ctl: control a running gatekeeperd. See gatekeeper-ctl(8). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/proto.h"

#define MAX_FIELDS 256

struct field {
	char type;
	char *key, *value;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gatekeeper-ctl [--socket PATH] [--json] COMMAND\n"
		"commands:\n"
		"  allow PATH | deny PATH | forget PATH   admin rule for the file's SHA-256\n"
		"  query PATH                             verdict, source, SHA-256, when decided\n"
		"  status                                 mode, kernel mode, counters, latency\n"
		"  policy check FILE | policy apply FILE | policy show\n");
}

static int fail(int code, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "gatekeeper-ctl: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return code;
}

static int connect_daemon(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(EXIT_USAGE, "%s: socket path too long%s", path, "");
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		if (e == EACCES || e == EPERM)
			return fail(EXIT_REFUSED, "%s: permission denied (root or the admin group only)%s", path, "");
		return fail(EXIT_UNREACHABLE, "cannot reach gatekeeperd at %s: %s", path, strerror(e));
	}
	*out = s;
	return 0;
}

static int send_request(int s, const char *line, int fd)
{
	struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(s, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -1;
}

static char *read_reply(int s)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	while (buf) {
		if (len + 1 >= cap) {
			char *p = cap < PROTO_MAX_REPLY ? realloc(buf, cap *= 2) : NULL;
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
		}
		ssize_t n = read(s, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Always valid JSON: a byte that is not UTF-8 becomes a lone surrogate
 * \udcXX (Python's surrogateescape: os.fsencode() gives the path's bytes
 * back), so a file name can neither break a reader nor be confused. */
static void json_string(const char *s)
{
	putchar('"');
	const unsigned char *p = (const unsigned char *)s;
	for (size_t n = strlen(s); *p;) {
		size_t u = proto_utf8_len(p, n - (size_t)(p - (const unsigned char *)s));
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else if (!u)
			printf("\\udc%02x", *p);
		else
			fwrite(p, 1, u, stdout);
		p += u ? u : 1;
	}
	putchar('"');
}

static void json_value(const struct field *f)
{
	if (f->type == 'n')
		fputs(f->value, stdout);
	else
		json_string(f->value);
}

static void print_json(const struct field *f, size_t n)
{
	putchar('{');
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(f[k].key, f[i].key);
		if (seen)
			continue;
		printf("%s", first ? "" : ",");
		first = false;
		json_string(f[i].key);
		putchar(':');
		if (!strcmp(f[i].key, "ok")) {
			fputs(strcmp(f[i].value, "1") ? "false" : "true", stdout);
		} else if (f[i].type == 'a') {
			putchar('[');
			for (size_t k = i, m = 0; k < n; k++)
				if (!strcmp(f[k].key, f[i].key)) {
					printf("%s", m++ ? "," : "");
					json_string(f[k].value);
				}
			putchar(']');
		} else {
			json_value(&f[i]);
		}
	}
	puts("}");
}

static void print_human(const char *verb, const struct field *f, size_t n)
{
	bool show = !strcmp(verb, "policy-show");
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].key, "ok"))
			continue;
		if (show && !strcmp(f[i].key, "text"))
			continue;
		/* policy show: the header to stderr, so stdout is the policy byte
		 * for byte and `policy show > p.yaml; policy apply p.yaml` is exact */
		fprintf(show ? stderr : stdout, show ? "# %s: %s\n" : "%s: %s\n", f[i].key, f[i].value);
	}
	for (size_t i = 0; show && i < n; i++)
		if (!strcmp(f[i].key, "text"))
			fputs(f[i].value, stdout);
}

/* Print the reply; return the exit code it carries. */
static int report(const char *verb, char *reply, bool json)
{
	struct field f[MAX_FIELDS];
	size_t n = 0;
	int code = EXIT_OK;
	const char *error = NULL;
	for (char *save = NULL, *line = strtok_r(reply, "\n", &save); line && n < MAX_FIELDS;
	     line = strtok_r(NULL, "\n", &save)) {
		if (proto_parse_line(line, &f[n].type, &f[n].key, &f[n].value) < 0)
			return fail(EXIT_UNREACHABLE, "garbled reply from gatekeeperd%s%s", "", "");
		if (!strcmp(f[n].key, "code"))
			code = atoi(f[n].value);
		if (!strcmp(f[n].key, "error"))
			error = f[n].value;
		n++;
	}
	if (!n)
		return fail(EXIT_UNREACHABLE, "gatekeeperd closed the connection without a reply%s%s", "", "");
	if (json) {
		print_json(f, n);
	} else if (error) {
		bool listed = false;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(f[i].key, "errors")) {
				fprintf(stderr, "%s\n", f[i].value);
				listed = true;
			}
		if (!listed)
			fprintf(stderr, "gatekeeper-ctl: %s\n", error);
	} else {
		print_human(verb, f, n);
	}
	return error && code == EXIT_OK ? EXIT_REFUSED : code;
}

static int policy_check(const char *file, bool json)
{
	struct gk_policy_errors errs = { 0 };
	struct gk_policy *p = policy_load(file, &errs);
	if (json) {
		printf("{\"ok\":%s,\"file\":", p ? "true" : "false");
		json_string(file);
		if (p) {
			printf(",\"sha256\":\"%s\"}\n", p->sha256_hex);
		} else {
			printf(",\"code\":%d,\"error\":", EXIT_USAGE);
			json_string(errs.msg[0]);
			printf(",\"errors\":[");
			for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++) {
				printf("%s", i ? "," : "");
				json_string(errs.msg[i]);
			}
			printf("]}\n");
		}
		int rc = p ? EXIT_OK : EXIT_USAGE;
		policy_free(p);
		return rc;
	}
	if (!p) {
		for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.count > GK_POLICY_MAX_ERRORS)
			fprintf(stderr, "%s: %zu more errors not shown\n", file, errs.count - GK_POLICY_MAX_ERRORS);
		return EXIT_USAGE;
	}
	printf("%s: ok (sha256 %s)\n", file, p->sha256_hex);
	policy_free(p);
	return EXIT_OK;
}

/* Build the request line; open the file whose fd goes with it. */
static int build_request(int argc, char **argv, char *line, size_t size, int *fd, char **verb)
{
	const char *cmd = argv[0], *file = NULL;
	char abs[PATH_MAX];
	*fd = -1;
	if (!strcmp(cmd, "status") && argc == 1) {
		*verb = "status";
	} else if ((!strcmp(cmd, "allow") || !strcmp(cmd, "deny") || !strcmp(cmd, "forget") ||
		    !strcmp(cmd, "query")) && argc == 2) {
		*verb = argv[0];
		file = argv[1];
	} else if (!strcmp(cmd, "policy") && argc == 2 && !strcmp(argv[1], "show")) {
		*verb = "policy-show";
	} else if (!strcmp(cmd, "policy") && argc == 3 && !strcmp(argv[1], "apply")) {
		*verb = "policy-apply";
		file = argv[2];
	} else {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (file) {
		/* O_NONBLOCK: opening a FIFO must not wait for a writer */
		*fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (*fd < 0)
			return fail(errno == ENOENT || errno == EACCES ? EXIT_REFUSED : EXIT_USAGE,
				    "%s: %s", file, strerror(errno));
		struct stat st;
		if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode))
			return fail(EXIT_USAGE, "%s: not a regular file%s", file, "");
		fcntl(*fd, F_SETFL, 0);
		if (!realpath(file, abs))
			snprintf(abs, sizeof(abs), "%s", file);
	}
	/* The path is only a label (the daemon reads the fd): the control bytes
	 * a request line may not hold go as \xNN. */
	char label[4 * PATH_MAX + 1];
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)abs; file && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			k += (size_t)snprintf(label + k, sizeof(label) - k, "\\x%02x", *p);
		else
			label[k++] = (char)*p;
	label[k] = '\0';
	if ((size_t)snprintf(line, size, "%s%s%s\n", *verb, file ? " " : "", file ? label : "") >= size)
		return fail(EXIT_USAGE, "%s: path too long%s", file, "");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 } };
	const char *socket_path = GK_DEFAULT_SOCKET;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "+s:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc == 3 && !strcmp(argv[0], "policy") && !strcmp(argv[1], "check"))
		return policy_check(argv[2], json);

	char line[PROTO_MAX_REQUEST + 1], *verb;
	int fd, s = -1, rc = build_request(argc, argv, line, sizeof(line), &fd, &verb);
	if (rc != EXIT_OK)
		return rc;
	rc = connect_daemon(socket_path, &s);
	if (rc == EXIT_OK) {
		/* Even when sending fails, a reply may be waiting (a refusal). */
		int sent = send_request(s, line, fd), saved = errno;
		char *reply = read_reply(s);
		if (reply && !reply[0] && sent < 0) {
			free(reply);
			reply = NULL;
		}
		errno = saved;
		if (!reply)
			rc = fail(EXIT_UNREACHABLE, "lost the connection to gatekeeperd at %s: %s",
				  socket_path, strerror(errno));
		else
			rc = report(verb, reply, json);
		free(reply);
		close(s);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
