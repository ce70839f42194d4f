/* Shim for <linux/types.h> under clang -target bpf, which has no
 * multiarch include directory (/usr/include/<triplet>/asm). BPF is a
 * 64-bit target with the same fixed-width types on every host, so the
 * architecture-independent definitions from linux-libc-dev suffice. */
#include <asm-generic/int-ll64.h>
