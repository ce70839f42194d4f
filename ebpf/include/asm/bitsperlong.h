/* Shim: see types.h. asm-generic derives __BITS_PER_LONG from the
 * compiler's __SIZEOF_LONG__, which is 8 for the BPF target. */
#include <asm-generic/bitsperlong.h>
