/* The benchmarks' exec target: as little as a program can do. */
#include <stdlib.h>

int main(void)
{
	return EXIT_SUCCESS;
}
