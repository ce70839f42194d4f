//go:build linux

package xdppath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// xdpState is what rtnetlink says about an interface's XDP program
// (rtnetlink(7) RTM_GETLINK, the nested IFLA_XDP attribute): how it is
// attached and which program runs. It sees every attachment, by bpf_link or
// by the older netlink API, in the calling thread's network namespace.
type xdpState struct {
	attached uint8  // XDP_ATTACHED_* (if_link.h)
	progID   uint32 // 0 when none
}

// IFLA_XDP_ATTACHED values (include/uapi/linux/if_link.h).
const (
	xdpAttachedNone  = 0
	xdpAttachedDrv   = 1
	xdpAttachedSKB   = 2
	xdpAttachedHW    = 3
	xdpAttachedMulti = 4
)

// queryXDP asks the kernel about ifindex's XDP program.
func queryXDP(ifindex int) (xdpState, error) {
	req := ifinfoRequest(unix.RTM_GETLINK, unix.NLM_F_REQUEST, ifindex, nil)
	msgs, err := netlinkDo(req)
	if err != nil {
		return xdpState{}, fmt.Errorf("xdppath: RTM_GETLINK %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return xdpState{}, fmt.Errorf("xdppath: RTM_GETLINK %d: %w", ifindex, err)
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED == unix.IFLA_XDP {
				return parseXDPAttr(a.Value), nil
			}
		}
		return xdpState{}, nil
	}
	return xdpState{}, fmt.Errorf("xdppath: RTM_GETLINK %d: no answer", ifindex)
}

// parseXDPAttr reads IFLA_XDP's nested attributes. With programs in more
// than one mode (XDP_ATTACHED_MULTI) the driver-mode one is reported.
func parseXDPAttr(b []byte) xdpState {
	var st xdpState
	var drv, skb uint32
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:])
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		v := b[unix.SizeofRtAttr:l]
		switch {
		case typ == unix.IFLA_XDP_ATTACHED && len(v) >= 1:
			st.attached = v[0]
		case typ == unix.IFLA_XDP_PROG_ID && len(v) >= 4:
			st.progID = binary.NativeEndian.Uint32(v)
		case typ == unix.IFLA_XDP_DRV_PROG_ID && len(v) >= 4:
			drv = binary.NativeEndian.Uint32(v)
		case typ == unix.IFLA_XDP_SKB_PROG_ID && len(v) >= 4:
			skb = binary.NativeEndian.Uint32(v)
		}
		b = b[min(len(b), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
	if st.progID == 0 {
		st.progID = skb
		if drv != 0 {
			st.progID = drv
		}
	}
	return st
}

// setXDPFD attaches program fd to ifindex, or detaches with fd -1, with the
// netlink API (RTM_SETLINK, IFLA_XDP_FD) that predates bpf_link. Confab
// attaches with bpf_link; this removes what an older tool left behind.
// flags are XDP_FLAGS_* (if_link.h): the mode to detach from.
func setXDPFD(ifindex, fd int, flags uint32) error {
	var xdp []byte
	xdp = appendAttr(xdp, unix.IFLA_XDP_FD, binary.NativeEndian.AppendUint32(nil, uint32(int32(fd))))
	xdp = appendAttr(xdp, unix.IFLA_XDP_FLAGS, binary.NativeEndian.AppendUint32(nil, flags))
	attrs := appendAttr(nil, unix.IFLA_XDP|unix.NLA_F_NESTED, xdp)
	req := ifinfoRequest(unix.RTM_SETLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK, ifindex, attrs)
	if _, err := netlinkDo(req); err != nil {
		return fmt.Errorf("xdppath: RTM_SETLINK %d IFLA_XDP_FD %d: %w", ifindex, fd, err)
	}
	return nil
}

func ifinfoRequest(typ, flags uint16, ifindex int, attrs []byte) []byte {
	n := unix.SizeofNlMsghdr + unix.SizeofIfInfomsg + len(attrs)
	b := make([]byte, n)
	h := (*unix.NlMsghdr)(unsafe.Pointer(&b[0]))
	*h = unix.NlMsghdr{Len: uint32(n), Type: typ, Flags: flags, Seq: 1}
	ifi := (*unix.IfInfomsg)(unsafe.Pointer(&b[unix.SizeofNlMsghdr]))
	*ifi = unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(ifindex)}
	copy(b[unix.SizeofNlMsghdr+unix.SizeofIfInfomsg:], attrs)
	return b
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	l := unix.SizeofRtAttr + len(v)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// netlinkDo sends one rtnetlink request and collects the answer up to its
// ACK (or the one message a non-dump request gets). A netlink error
// becomes its errno.
func netlinkDo(req []byte) ([]syscall.NetlinkMessage, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	wantAck := binary.NativeEndian.Uint16(req[6:])&unix.NLM_F_ACK != 0
	buf := make([]byte, 1<<16)
	var out []syscall.NetlinkMessage
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("short netlink error")
				}
				if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
					return nil, unix.Errno(-code)
				}
				return out, nil // the ACK
			case unix.NLMSG_DONE:
				return out, nil
			}
			out = append(out, m)
			if !wantAck {
				return out, nil
			}
		}
	}
}
