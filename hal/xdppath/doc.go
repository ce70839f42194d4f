// Package xdppath is the XDP/AF_XDP packet-path driver of the HAL: the
// same hal.PacketPath as the pure-Go driver (hal/sockpath), with the
// per-packet work moved into the kernel's earliest hook.
//
// New loads confab/ebpf/rtpfilter and attaches it to the media interface,
// in driver (native) mode where the NIC's driver supports XDP and in
// generic mode otherwise. The program drops what is not media of an open
// flow before the kernel allocates anything for it, guards the SIP port
// with a per-source token bucket, and counts per flow. Then one of two
// paths carries the media:
//
//   - AF_XDP (the default): an AF_XDP socket per RX queue (hal/xdppath/xsk)
//     receives the known flows' packets straight from the XDP program, and
//     the mixed output leaves through the same sockets as Ethernet frames
//     built here, so media never crosses the kernel's IP and UDP stack. The
//     next hop's MAC is learned from the frames each remote sends (its own
//     or its router's); until a remote has been heard from, its packets
//     leave through the flow's kernel UDP socket, which also primes the
//     kernel's neighbour table.
//   - Filter only (AF_XDP off, or refused): the program passes known flows
//     on to the flow's kernel UDP socket, and Read and Write are sockpath's.
//
// In both, each flow keeps its pair of kernel UDP sockets (sockpath): they
// reserve the ports, and they carry what AF_XDP cannot.
//
// A two-party bypass (hal.Bypasser) forwards one participant's media to the
// other from inside the XDP program, rewritten as the MCU would send it.
//
// The attachment is a bpf_link pinned under a BPF filesystem (default
// /sys/fs/bpf/confab), so that a crash leaves the filter guarding the box
// and the next start takes the link over and swaps its program in
// atomically. Shutdown unpins and detaches.
//
// Kernel and privileges: Linux 6.1 or later (Debian 12) with BTF, bpf_link
// for XDP (5.9) and CONFIG_XDP_SOCKETS; CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW
// and CAP_SYS_ADMIN for the pin (root on the appliance); a BPF filesystem
// mounted at /sys/fs/bpf for pinning (without it the link is not pinned and
// dies with the process). Without these, New fails and hal/halselect falls
// back to the pure-Go driver, saying why. AF_XDP sockets are bound in copy
// mode unless the driver supports zero-copy. Frames are sent untagged: run
// the media on an untagged interface, or on a VLAN device in generic mode.
// veth supports driver mode, with redirects into AF_XDP (Linux 4.19); the
// tests run on veth pairs in private network namespaces.
package xdppath
