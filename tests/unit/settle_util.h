/* Unit-test helper: a digest is kept only once the file's ctime has
 * settled (file_id.settled): wait for that before identifying a file whose
 * digest a test expects to be kept. */
#ifndef GK_TEST_SETTLE_UTIL_H
#define GK_TEST_SETTLE_UTIL_H

#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"

static inline void settle_file(int fd)
{
	struct file_id id;
	for (int i = 0; i < 1000 && file_id_of_fd(fd, &id) == 0 && !id.settled; i++)
		usleep(1000);
}

#endif
