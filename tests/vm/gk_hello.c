/* gk-hello: the test program. Prints "ran <tag>", where tag is the last 8
 * bytes of its own file, so a test can tell which content actually ran.
 * Test files are this binary plus an 8-byte trailer (GOODGOOD, EVILEVIL...). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char tag[9] = { 0 };
	struct stat st;
	int fd = open(argc > 1 ? argv[1] : "/proc/self/exe", O_RDONLY);

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 8 || pread(fd, tag, 8, st.st_size - 8) != 8)
		return 3;
	printf("ran %s\n", tag);
	return 0;
}
