/* gk-preload.so: a library whose constructor says it was loaded. The guest
 * suite writes copies of it after the daemon started and preloads them into
 * an allowed program (LD_PRELOAD): a denied copy must never be mapped. */
#include <unistd.h>

__attribute__((constructor)) static void gk_preloaded(void)
{
	static const char msg[] = "PRELOADED\n";
	(void)!write(2, msg, sizeof(msg) - 1);
}
