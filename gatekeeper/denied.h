/* The names of the files the kernel refuses on its own (bpf mode).
 *
 * A verdict cached in the kernel is keyed by inode: a later exec or
 * PROT_EXEC mapping of a denied file is refused there, and its record
 * (ring buffer) carries only device, inode and the task's comm. The daemon
 * knew the path when it judged the file, so it keeps it here, and the audit
 * record of the refusal can say which file it was. The path is the one the
 * file was judged under: a rename since then is not seen. */
#ifndef GK_DENIED_H
#define GK_DENIED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct gk_denied;

struct gk_denied *denied_new(void);
void denied_free(struct gk_denied *dn);
/* A deny verdict for (dev, ino) is now cached in the kernel under path. */
void denied_remember(struct gk_denied *dn, dev_t dev, ino_t ino, const char *path);
/* The path (dev, ino) was denied under; false if none is known. */
bool denied_name(struct gk_denied *dn, dev_t dev, ino_t ino, char *out, size_t size);

#endif
