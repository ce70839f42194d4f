package netconf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoNIC means the box has no Ethernet interface.
var ErrNoNIC = errors.New("netconf: no Ethernet interface")

// FirstEthernet returns the name of the first Ethernet interface, by name
// order (the kernel names them in PCI order: eth0, or enp1s0 under udev
// naming, which the appliance does not use).
func FirstEthernet(sysClassNet string) (string, error) {
	des, err := os.ReadDir(sysClassNet)
	if err != nil {
		return "", fmt.Errorf("netconf: %w", err)
	}
	var names []string
	for _, de := range des {
		typ, err := os.ReadFile(filepath.Join(sysClassNet, de.Name(), "type"))
		if err != nil || strings.TrimSpace(string(typ)) != "1" { // ARPHRD_ETHER
			continue
		}
		// Physical devices have a device link; bridges, veths and the like do not.
		if _, err := os.Stat(filepath.Join(sysClassNet, de.Name(), "device")); err != nil {
			continue
		}
		names = append(names, de.Name())
	}
	if len(names) == 0 {
		return "", ErrNoNIC
	}
	sort.Strings(names)
	return names[0], nil
}

// rtnetlink sends one request on a NETLINK_ROUTE socket and waits for its
// acknowledgement (rtnetlink(7)).
func rtnetlink(typ uint16, flags uint16, payload []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(payload))
	msg = append(msg, payload...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return syscall.Errno(-code)
			}
			return nil
		}
	}
}

func attr(typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], data)
	return b
}

// LinkUp sets the interface up.
func LinkUp(name string) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("netconf: %w", err)
	}
	p := make([]byte, unix.SizeofIfInfomsg)
	p[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(p[4:], uint32(ifi.Index))
	binary.NativeEndian.PutUint32(p[8:], unix.IFF_UP)  // flags
	binary.NativeEndian.PutUint32(p[12:], unix.IFF_UP) // change mask
	if err := rtnetlink(unix.RTM_NEWLINK, 0, p); err != nil {
		return fmt.Errorf("netconf: set %s up: %w", name, err)
	}
	return nil
}

func addrMsg(index int, p netip.Prefix) []byte {
	m := make([]byte, unix.SizeofIfAddrmsg)
	m[0] = unix.AF_INET
	m[1] = byte(p.Bits())
	m[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(m[4:], uint32(index))
	a := p.Addr().As4()
	m = append(m, attr(unix.IFA_LOCAL, a[:])...)
	m = append(m, attr(unix.IFA_ADDRESS, a[:])...)
	if p.Bits() < 31 {
		bc := a
		for i := p.Bits(); i < 32; i++ {
			bc[i/8] |= 0x80 >> (i % 8)
		}
		m = append(m, attr(unix.IFA_BROADCAST, bc[:])...)
	}
	return m
}

// SetAddress replaces the interface's IPv4 addresses with p.
func SetAddress(name string, p netip.Prefix) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("netconf: %w", err)
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		old, _ := netip.AddrFromSlice(ipn.IP.To4())
		ones, _ := ipn.Mask.Size()
		if netip.PrefixFrom(old, ones) == p {
			continue
		}
		if err := rtnetlink(unix.RTM_DELADDR, 0, addrMsg(ifi.Index, netip.PrefixFrom(old, ones))); err != nil {
			return fmt.Errorf("netconf: remove %s from %s: %w", old, name, err)
		}
	}
	err = rtnetlink(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, addrMsg(ifi.Index, p))
	if err != nil {
		return fmt.Errorf("netconf: add %s to %s: %w", p, name, err)
	}
	return nil
}

// SetDefaultRoute routes everything not on a local network via gw.
func SetDefaultRoute(name string, gw netip.Addr) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("netconf: %w", err)
	}
	m := make([]byte, unix.SizeofRtMsg)
	m[0] = unix.AF_INET
	m[4] = unix.RT_TABLE_MAIN
	m[5] = unix.RTPROT_BOOT
	m[6] = unix.RT_SCOPE_UNIVERSE
	m[7] = unix.RTN_UNICAST
	g := gw.As4()
	m = append(m, attr(unix.RTA_GATEWAY, g[:])...)
	idx := make([]byte, 4)
	binary.NativeEndian.PutUint32(idx, uint32(ifi.Index))
	m = append(m, attr(unix.RTA_OIF, idx)...)
	if err := rtnetlink(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, m); err != nil {
		return fmt.Errorf("netconf: default route via %s: %w", gw, err)
	}
	return nil
}

// udpTransport is the DHCP client's socket: port 68 on one interface, with
// broadcast allowed, usable before the interface has an address.
type udpTransport struct {
	conn *net.UDPConn
}

func newUDPTransport(iface string) (*udpTransport, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			serr = unix.BindToDevice(int(fd), iface)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s: %w", iface, err)
	}
	return &udpTransport{conn: pc.(*net.UDPConn)}, nil
}

func (t *udpTransport) Send(b []byte) error {
	_, err := t.conn.WriteToUDP(b, &net.UDPAddr{IP: net.IPv4bcast, Port: 67})
	return err
}

func (t *udpTransport) Receive(ctx context.Context) ([]byte, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	_ = t.conn.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	n, _, err := t.conn.ReadFromUDP(buf)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return buf[:n], nil
}

func (t *udpTransport) Close() error { return t.conn.Close() }
