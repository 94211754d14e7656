/* The scanner tests' program: each test copies it and appends a tag, so
 * that every copy is a small, runnable ELF with a content of its own. */
#include <stdlib.h>

int main(void)
{
	return EXIT_SUCCESS;
}
