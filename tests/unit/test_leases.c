/* The lease table of fanotify mode's allow cache (gatekeeper/kcache_lease.c):
 * the oldest live lease goes first when the table is full, even after
 * leases were dropped out of turn. Needs root (a fanotify group, leases on
 * files we create); it runs in a mount namespace of its own, on a tmpfs it
 * mounts, so its ignore marks are on inodes no one else uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/kcache.h"
#include "gatekeeper/kcache_lease.h"

#define LIMIT 4
#define FILES 8

struct fixture {
	char dir[64];
	int group_fd;
	int fds[FILES];
	struct stat st[FILES];
	struct kcache_leases *t;
};

static int setup(void **state)
{
	if (geteuid() != 0 || kcache_lease_grace_us() < 1000000)
		return 0;   /* the test skips itself (a lease must outlast a writer's retry) */
	struct fixture *fx = calloc(1, sizeof(*fx));
	sigset_t rt;
	if (!fx || unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/gk-leases-XXXXXX");
	if (!mkdtemp(fx->dir) || mount("gk-leases", fx->dir, "tmpfs", 0, "size=1m") < 0)
		return -1;
	/* a lease break would signal us: none is expected, keep it queued */
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &rt, NULL);
	fx->group_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
	if (fx->group_fd < 0)
		return -1;
	for (int i = 0; i < FILES; i++) {
		char path[96];
		snprintf(path, sizeof(path), "%s/f%d", fx->dir, i);
		int w = open(path, O_WRONLY | O_CREAT | O_EXCL, 0755);
		if (w < 0 || write(w, "x", 1) != 1 || close(w) < 0)
			return -1;
		fx->fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fx->fds[i] < 0 || fstat(fx->fds[i], &fx->st[i]) < 0)
			return -1;
	}
	fx->t = kcache_leases_new(SIGRTMIN + 1, LIMIT);
	*state = fx;
	return fx->t ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		return 0;
	kcache_leases_free(fx->t);
	for (int i = 0; i < FILES; i++)
		close(fx->fds[i]);
	close(fx->group_fd);
	umount2(fx->dir, MNT_DETACH);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int hold_ticket(struct fixture *fx, int i, uint64_t ticket)
{
	return kcache_leases_hold(fx->t, fx->fds[i], &fx->st[i], fx->group_fd, FAN_OPEN_EXEC_PERM,
				  ticket);
}

static int hold(struct fixture *fx, int i)
{
	return hold_ticket(fx, i, 0);
}

static uint64_t arm_as(struct fixture *fx, int i, bool exec, int *why)
{
	return kcache_leases_arm(fx->t, fx->fds[i], fx->st[i].st_dev, fx->st[i].st_ino, fx->group_fd,
				 FAN_OPEN_EXEC_PERM, exec, why);
}

static uint64_t arm(struct fixture *fx, int i)
{
	int why;
	return arm_as(fx, i, false, &why);
}

static void disarm_as(struct fixture *fx, int i, uint64_t ticket, bool exec)
{
	kcache_leases_disarm(fx->t, fx->st[i].st_dev, fx->st[i].st_ino, ticket, fx->group_fd,
			     FAN_OPEN_EXEC_PERM, exec);
}

static void disarm(struct fixture *fx, int i, uint64_t ticket)
{
	disarm_as(fx, i, ticket, false);
}

static void forget(struct fixture *fx, int i)
{
	kcache_leases_forget_inode(fx->t, fx->st[i].st_dev, fx->st[i].st_ino, fx->group_fd,
			    FAN_OPEN_EXEC_PERM);
}

static uint64_t held(struct fixture *fx)
{
	uint64_t n, breaks, refused;
	kcache_leases_counters(fx->t, &n, &breaks, &refused);
	return n;
}

/* Forgetting a held file lowers the count by one; a file not held, by none. */
static int is_held(struct fixture *fx, int i)
{
	uint64_t before = held(fx);
	forget(fx, i);
	return held(fx) + 1 == before;
}

/* Three of four leases forgotten out of turn leave stale FIFO entries that
 * fill it; the newest grants must not push the oldest live lease's entry
 * out of its turn (it was kept while a newer one got evicted). */
static void oldest_live_lease_goes_first(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	for (int i = 0; i < 4; i++)          /* A B C D */
		assert_int_equal(hold(fx, i), 0);
	assert_int_equal(held(fx), 4);
	for (int i = 0; i < 3; i++)          /* A B C dropped out of turn */
		forget(fx, i);
	assert_int_equal(held(fx), 1);
	for (int i = 4; i < 8; i++)          /* E F G H: the fifth live lease evicts D */
		assert_int_equal(hold(fx, i), 0);
	assert_int_equal(held(fx), LIMIT);
	assert_true(is_held(fx, 5));         /* F: newer than D, still held */
	assert_false(is_held(fx, 3));        /* D: the oldest, evicted */
	for (int i = 4; i < 8; i++)
		if (i != 5)
			assert_true(is_held(fx, i));
	assert_int_equal(held(fx), 0);
}

/* A file already held is not leased twice. */
static void one_lease_per_file(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	assert_int_equal(hold(fx, 0), 0);
	assert_int_equal(hold(fx, 0), 0);
	assert_int_equal(held(fx), 1);
	forget(fx, 0);
	assert_int_equal(held(fx), 0);
}

/* A writer's open breaks the lease taken before a read: the ticket of that
 * lease then marks nothing, and a new lease does not stand in for it. */
static void broken_arm_marks_nothing(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	uint64_t ticket = arm(fx, 0);
	assert_true(ticket != 0);
	assert_int_equal(held(fx), 1);
	char path[96];
	snprintf(path, sizeof(path), "%s/f0", fx->dir);
	/* O_NONBLOCK: the open fails at once (EWOULDBLOCK) and breaks the lease */
	assert_int_equal(open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), -1);
	sigset_t rt;
	siginfo_t si;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	assert_int_equal(sigtimedwait(&rt, &si, &(struct timespec){ 2, 0 }), SIGRTMIN + 1);
	kcache_leases_broken(fx->t, si.si_fd, fx->group_fd, FAN_OPEN_EXEC_PERM);
	assert_int_equal(held(fx), 0);
	assert_int_equal(hold_ticket(fx, 0, ticket), -1);
	assert_int_equal(held(fx), 0);
	/* re-armed, unbroken: that ticket marks, and a later disarm keeps it */
	ticket = arm(fx, 0);
	assert_true(ticket != 0);
	assert_int_equal(hold_ticket(fx, 0, ticket), 0);
	disarm(fx, 0, ticket);
	assert_true(is_held(fx, 0));
}

/* An armed lease whose verdict was not cached is given back; a file already
 * leased (and marked) arms with that lease, which disarm leaves alone. */
static void disarm_gives_back_unmarked(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	uint64_t ticket = arm(fx, 1);
	assert_true(ticket != 0);
	disarm(fx, 1, ticket);
	assert_int_equal(held(fx), 0);
	assert_int_equal(hold(fx, 2), 0);
	ticket = arm(fx, 2);
	assert_true(ticket != 0);
	disarm(fx, 2, ticket);
	assert_int_equal(held(fx), 1);
	assert_int_equal(hold_ticket(fx, 2, ticket), 0);
	assert_int_equal(hold_ticket(fx, 2, ticket + 1), -1);
}

/* Content changed between the read and the lease (the ctime moved, the
 * size did not): no lease is kept and no mark is made, new or on a lease
 * already held; the file as it is now leases and marks as before. */
static void changed_since_read_marks_nothing(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	struct stat judged = fx->st[3];
	judged.st_ctim.tv_nsec ^= 1;
	assert_int_equal(kcache_leases_hold(fx->t, fx->fds[3], &judged, fx->group_fd,
					    FAN_OPEN_EXEC_PERM, 0), -1);
	assert_int_equal(held(fx), 0);
	uint64_t ticket = arm(fx, 3);   /* leased, not marked */
	assert_true(ticket != 0);
	assert_int_equal(kcache_leases_hold(fx->t, fx->fds[3], &judged, fx->group_fd,
					    FAN_OPEN_EXEC_PERM, 0), -1);
	judged = fx->st[3];
	judged.st_size++;
	assert_int_equal(kcache_leases_hold(fx->t, fx->fds[3], &judged, fx->group_fd,
					    FAN_OPEN_EXEC_PERM, 0), -1);
	assert_int_equal(hold(fx, 3), 0);
	assert_true(is_held(fx, 3));
}

/* A writer's O_NONBLOCK open of file i: 0 it opened, else its errno. The
 * refused open breaks the lease; the break's signal is handled as the
 * daemon's signal thread does. */
static int writer_open(struct fixture *fx, int i)
{
	char path[96];
	snprintf(path, sizeof(path), "%s/f%d", fx->dir, i);
	int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (w >= 0) {
		close(w);
		return 0;
	}
	int e = errno;
	sigset_t rt;
	siginfo_t si;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	if (sigtimedwait(&rt, &si, &(struct timespec){ 0, 200 * 1000 * 1000 }) == SIGRTMIN + 1)
		kcache_leases_broken(fx->t, si.si_fd, fx->group_fd, FAN_OPEN_EXEC_PERM);
	return e;
}

/* An exec's lease holds a writer out until its disarm, whatever lets the
 * lease go meanwhile (the writer's own break, a flush): the writer cannot
 * write between the judgement's read and the exec's refusal of writers.
 * Meanwhile its ticket caches nothing and nothing else arms with it. A
 * lease armed for a pre-scan lets the writer go at its break. */
static void exec_lease_holds_writer_until_disarm(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	int why;
	kcache_leases_set_grace(fx->t, 5000000);
	uint64_t ticket = arm_as(fx, 0, true, &why);
	assert_true(ticket != 0);
	assert_int_equal(writer_open(fx, 0), EWOULDBLOCK);
	assert_int_equal(writer_open(fx, 0), EWOULDBLOCK);   /* broken, still held */
	assert_false(kcache_leases_stand(fx->t, fx->st[0].st_dev, fx->st[0].st_ino, ticket));
	assert_int_equal(hold_ticket(fx, 0, ticket), -1);
	/* another exec joins the broken lease (the writer holds it to ETXTBSY),
	 * a pre-scan does not */
	uint64_t joined = arm_as(fx, 0, true, &why);
	assert_true(joined == ticket);
	assert_int_equal(arm_as(fx, 0, false, &why), 0);
	assert_int_equal(why, EAGAIN);
	/* once the kernel may have taken it back, nothing joins */
	kcache_leases_set_grace(fx->t, 0);
	assert_int_equal(arm_as(fx, 0, true, &why), 0);
	assert_int_equal(why, EAGAIN);
	int64_t since, before_arm = 0;
	assert_true(kcache_leases_broken_since(fx->t, fx->st[0].st_dev, fx->st[0].st_ino, ticket,
					       &since));
	assert_true(since > before_arm);
	kcache_leases_set_grace(fx->t, 5000000);
	assert_int_equal(held(fx), 1);
	disarm_as(fx, 0, ticket, true);
	assert_int_equal(writer_open(fx, 0), EWOULDBLOCK);
	disarm_as(fx, 0, joined, true);
	assert_int_equal(held(fx), 0);
	assert_int_equal(writer_open(fx, 0), 0);

	ticket = arm_as(fx, 1, true, &why);        /* a flush while judged */
	assert_int_equal(hold_ticket(fx, 1, ticket), 0);
	kcache_leases_release_all(fx->t, fx->group_fd, FAN_OPEN_EXEC_PERM);
	joined = arm_as(fx, 1, true, &why);        /* no writer came: joins */
	assert_true(joined == ticket);
	assert_int_equal(arm_as(fx, 1, false, &why), 0);   /* a pre-scan does not */
	assert_int_equal(writer_open(fx, 1), EWOULDBLOCK);
	int64_t since1;
	assert_true(kcache_leases_broken_since(fx->t, fx->st[1].st_dev, fx->st[1].st_ino, ticket,
					       &since1));
	assert_int_equal(held(fx), 1);
	disarm_as(fx, 1, ticket, true);
	assert_int_equal(writer_open(fx, 1), EWOULDBLOCK);
	disarm_as(fx, 1, joined, true);
	assert_int_equal(held(fx), 0);
	assert_int_equal(writer_open(fx, 1), 0);

	ticket = arm(fx, 2);                       /* a pre-scan's: no hold */
	assert_int_equal(writer_open(fx, 2), EWOULDBLOCK);
	assert_int_equal(held(fx), 0);
	assert_int_equal(writer_open(fx, 2), 0);
	disarm(fx, 2, ticket);
}

/* A break signal for an fd number since reused by a lease still whole
 * (F_GETLEASE says F_RDLCK) lets nothing go. */
static void stale_break_signal_lets_nothing_go(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	int why;
	uint64_t ticket = arm_as(fx, 4, true, &why);
	assert_true(ticket != 0);
	for (int fd = 0; fd < 1024; fd++)
		kcache_leases_broken(fx->t, fd, fx->group_fd, FAN_OPEN_EXEC_PERM);
	assert_true(kcache_leases_stand(fx->t, fx->st[4].st_dev, fx->st[4].st_ino, ticket));
	disarm_as(fx, 4, ticket, true);
	assert_int_equal(held(fx), 0);
}

/* Execs' own leases stay out of the FIFO and the limit: a full table of
 * cached allows loses none to them. One that then caches its allow joins
 * the FIFO, and the oldest cached one goes. */
static void exec_leases_evict_no_cached_one(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	int why;
	uint64_t tickets[FILES];
	for (int i = 0; i < LIMIT; i++)
		assert_int_equal(hold(fx, i), 0);
	for (int i = LIMIT; i < FILES; i++)
		assert_true((tickets[i] = arm_as(fx, i, true, &why)) != 0);
	assert_int_equal(held(fx), FILES);
	for (int i = LIMIT + 1; i < FILES; i++)
		disarm_as(fx, i, tickets[i], true);
	assert_int_equal(held(fx), LIMIT + 1);
	assert_int_equal(hold_ticket(fx, LIMIT, tickets[LIMIT]), 0);   /* caches: file 0 goes */
	disarm_as(fx, LIMIT, tickets[LIMIT], true);
	assert_int_equal(held(fx), LIMIT);
	assert_false(is_held(fx, 0));
	for (int i = 1; i <= LIMIT; i++)
		assert_true(is_held(fx, i));
}

/* A break whose signal is not handled yet (the signal thread held up)
 * already counts: the kernel's clock runs from the break. */
static void unhandled_break_counts(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		skip();
	int why;
	int64_t since;
	uint64_t ticket = arm_as(fx, 5, true, &why);
	assert_false(kcache_leases_broken_since(fx->t, fx->st[5].st_dev, fx->st[5].st_ino, ticket,
						&since));
	char path[96];
	snprintf(path, sizeof(path), "%s/f5", fx->dir);
	assert_int_equal(open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), -1);
	assert_true(kcache_leases_broken_since(fx->t, fx->st[5].st_dev, fx->st[5].st_ino, ticket,
					       &since));
	sigset_t rt;
	siginfo_t si;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	assert_int_equal(sigtimedwait(&rt, &si, &(struct timespec){ 2, 0 }), SIGRTMIN + 1);
	disarm_as(fx, 5, ticket, true);
	assert_int_equal(held(fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(oldest_live_lease_goes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(one_lease_per_file, setup, teardown),
		cmocka_unit_test_setup_teardown(broken_arm_marks_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(disarm_gives_back_unmarked, setup, teardown),
		cmocka_unit_test_setup_teardown(changed_since_read_marks_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(exec_lease_holds_writer_until_disarm, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_break_signal_lets_nothing_go, setup, teardown),
		cmocka_unit_test_setup_teardown(unhandled_break_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(exec_leases_evict_no_cached_one, setup, teardown),
	};
	return cmocka_run_group_tests_name("leases", tests, NULL, NULL);
}
