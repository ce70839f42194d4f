// Package xsk is an AF_XDP socket (Documentation/networking/af_xdp.rst):
// a UMEM of packet frames shared with the kernel, and the four
// single-producer single-consumer rings through which frames change hands
// (fill and RX for receiving, TX and completion for sending). It is written
// on golang.org/x/sys/unix alone.
//
// A Socket is bound to one queue of one interface. Packets reach its RX
// ring only when an XDP program on that interface redirects them into an
// XSKMAP entry holding the socket (confab/ebpf/rtpfilter does); packets put
// on its TX ring leave through the same queue, bypassing the kernel's IP
// stack and qdiscs. The hot paths (Receive, Recycle, TxFrame, Send, Flush,
// Reclaim) exchange descriptors in shared memory, make at most one system
// call per batch and do not allocate.
//
// Kernel and privileges: Linux 5.4 or later with CONFIG_XDP_SOCKETS (Debian
// 12's kernel has it), XDP_USE_NEED_WAKEUP (5.4); zero-copy where the
// driver supports it, copy mode otherwise. Opening a socket needs
// CAP_NET_RAW, binding it CAP_NET_ADMIN for the XSKMAP (root on the
// appliance).
package xsk
