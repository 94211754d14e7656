/* The names of the files the kernel refuses on its own (bpf mode).
 *
 * A verdict cached in the kernel is keyed by inode: a later exec or
 * PROT_EXEC mapping of a denied file is refused there, and its record
 * (ring buffer) carries only device, inode and the task's comm. The daemon
 * knew the path and the digest when it judged the file, so it keeps them
 * here, and the audit record of the refusal can say which file and content
 * it was. The path is the one the file was judged under: a rename since
 * then is not seen (nor a write: the kernel drops the entry on one). */
#ifndef GK_DENIED_H
#define GK_DENIED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy/policy.h"

struct gk_denied;

struct gk_denied *denied_new(void);
void denied_free(struct gk_denied *dn);
/* A deny verdict for (dev, ino) is now cached in the kernel under path,
 * for the content sha (NULL: not known). */
void denied_remember(struct gk_denied *dn, dev_t dev, ino_t ino, const char *path,
		     const unsigned char *sha);
/* The path (dev, ino) was denied under, and into sha (when not NULL) its
 * digest, *have_sha saying whether one is known; false if none is. */
bool denied_name(struct gk_denied *dn, dev_t dev, ino_t ino, char *out, size_t size,
		 unsigned char sha[GK_SHA256_LEN], bool *have_sha);

#endif
