//go:build linux

package xsk

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is the shared part of the four AF_XDP rings: a power-of-two array
// of entries in memory mapped from the socket, a producer and a consumer
// index that run freely over uint32 (entries live at index & mask), and a
// flags word (XDP_RING_NEED_WAKEUP). Each ring has one producer and one
// consumer, one of them the kernel; the indices are published with atomic
// stores and read with atomic loads, which order the entries' accesses as
// the kernel's smp_store_release/smp_load_acquire expect
// (Documentation/networking/af_xdp.rst, "Rings").
//
// cached is this side's private copy of its own index, and other a cached
// view of the kernel's, refreshed only when it seems to stand in the way,
// so most operations touch no shared cache line but the entries.
type ring struct {
	mem      []byte
	producer *uint32
	consumer *uint32
	flags    *uint32
	mask     uint32
	size     uint32
	cached   uint32
	other    uint32
}

func newRing(mem []byte, off unix.XDPRingOffset, size uint32) ring {
	return ring{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:     size - 1,
		size:     size,
	}
}

// needWakeup reports whether the kernel asks to be kicked (sendto for TX,
// poll or recvfrom for the fill ring) before it works on the ring again.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// Producer side (fill and TX rings: user space writes, the kernel reads).

// free returns how many entries can be produced now, up to want.
func (r *ring) free(want uint32) uint32 {
	n := r.size - (r.cached - r.other)
	if n < want {
		r.other = atomic.LoadUint32(r.consumer)
		n = r.size - (r.cached - r.other)
	}
	return min(n, want)
}

// submit publishes n entries written after the producer index.
func (r *ring) submit(n uint32) {
	r.cached += n
	atomic.StoreUint32(r.producer, r.cached)
}

// Consumer side (RX and completion rings: the kernel writes, user space
// reads).

// ready returns how many entries can be consumed now, up to want.
func (r *ring) ready(want uint32) uint32 {
	n := r.other - r.cached
	if n < want {
		r.other = atomic.LoadUint32(r.producer)
		n = r.other - r.cached
	}
	return min(n, want)
}

// release hands n consumed entries back to the kernel.
func (r *ring) release(n uint32) {
	r.cached += n
	atomic.StoreUint32(r.consumer, r.cached)
}

// addrRing is the fill or completion ring: UMEM frame addresses.
type addrRing struct {
	ring
	addrs []uint64
}

func newAddrRing(mem []byte, off unix.XDPRingOffset, size uint32) addrRing {
	return addrRing{
		ring:  newRing(mem, off, size),
		addrs: unsafe.Slice((*uint64)(unsafe.Pointer(&mem[off.Desc])), size),
	}
}

// descRing is the RX or TX ring: packet descriptors.
type descRing struct {
	ring
	descs []unix.XDPDesc
}

func newDescRing(mem []byte, off unix.XDPRingOffset, size uint32) descRing {
	return descRing{
		ring:  newRing(mem, off, size),
		descs: unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&mem[off.Desc])), size),
	}
}
