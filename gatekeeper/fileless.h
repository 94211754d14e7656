/* fileless: programs with no file name (a memfd, an O_TMPFILE file, a
 * deleted file) and the policy's `fileless: allow | deny`. */
#ifndef GK_FILELESS_H
#define GK_FILELESS_H

#include <stdbool.h>

struct gk_daemon;
struct gk_fileless;
struct proto_buf;

/* d->fileless: what is in force and the sysctl's value to put back. */
struct gk_fileless *fileless_new(void);
/* fileless_restore, then free; NULL-safe. */
void fileless_free(struct gk_fileless *fl);

/* Put the running policy's `fileless` setting in force: the kernel programs
 * in bpf mode; in fanotify mode vm.memfd_noexec=2 (Linux >= 6.3), the value
 * found first restored when deny no longer holds. Call after every policy
 * change, and fileless_restore on exit. Nothing without d->fileless. */
void fileless_apply(struct gk_daemon *d);
void fileless_restore(struct gk_fileless *fl);   /* NULL-safe */

/* status: which enforcement is live, or that none is. */
void fileless_report(struct gk_fileless *fl, struct proto_buf *reply);

#endif
