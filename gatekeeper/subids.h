/* Ranges of subordinate user ids (subuid(5)): whose ids they are.
 *
 * newuidmap(1) lets a user map the ranges /etc/subuid gives them into a
 * user namespace of their own, and there run processes as any of those
 * ids. For the workers' turns (events_fair.c) an exec by an id of such a
 * range is its user's: one user cannot count as thousands. */
#ifndef GK_SUBIDS_H
#define GK_SUBIDS_H

#include <stddef.h>
#include <sys/types.h>

struct subids;

/* The ranges of the file at path (missing: none), each the user's its
 * line names (a uid, or a name /etc/passwd gives); NULL only when memory
 * runs out. A line that is not name:first:count is skipped (the first
 * five with a warning naming the file and line). */
struct subids *subids_read(const char *path);
/* Whose uid is: the user whose range holds it, else uid itself. A range
 * of root's (containers root runs), or of a user /etc/passwd does not
 * name, is an owner of its own: its first id. */
uid_t subids_owner(const struct subids *s, uid_t uid);
size_t subids_count(const struct subids *s);
void subids_free(struct subids *s);

#endif
