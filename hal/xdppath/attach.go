//go:build linux

package xdppath

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Mode is how the XDP program runs on the interface.
type Mode int

// Modes.
const (
	// ModeAuto tries driver mode, then generic mode.
	ModeAuto Mode = iota
	// ModeDriver runs the program in the NIC driver's receive path
	// (native XDP), before any socket buffer is allocated.
	ModeDriver
	// ModeGeneric runs it on socket buffers after the driver (SKB mode):
	// any interface takes it, at a higher cost per packet.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeDriver:
		return "driver"
	case ModeGeneric:
		return "generic"
	}
	return "auto"
}

func (m Mode) flags() link.XDPAttachFlags {
	if m == ModeGeneric {
		return link.XDPGenericMode
	}
	return link.XDPDriverMode
}

// Confab's XDP program is confab_rtp_filter. The kernel keeps its name cut
// to BPF_OBJ_NAME_LEN (16) with the terminating NUL; the full name comes
// from the program's BTF where the kernel has it.
const (
	progName      = "confab_rtp_filter"
	progNameShort = "confab_rtp_filt"
)

// bpfFSMagic is the statfs(2) type of a BPF filesystem (BPF_FS_MAGIC).
const bpfFSMagic = 0xcafe4a11

// attachment is the program's hold on the interface.
type attachment struct {
	link     link.Link
	mode     Mode   // ModeDriver or ModeGeneric, as attached
	pinned   string // the link's pin, "" if not pinned
	replaced string // what stale attachment this one replaced, if any
	pinNote  string // why the link is not pinned, if it is not
}

// detach removes the program from the interface: unpin, then close the
// link, which is its last reference.
func (a *attachment) detach() error {
	var err error
	if a.pinned != "" {
		if uerr := a.link.Unpin(); uerr != nil && !errors.Is(uerr, os.ErrNotExist) {
			err = fmt.Errorf("xdppath: unpin %s: %w", a.pinned, uerr)
		}
	}
	if cerr := a.link.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("xdppath: detach: %w", cerr)
	}
	return err
}

// attach puts prog on interface ifindex in mode want, pinning the link at
// pin (a path on a BPF filesystem; "" not to pin).
//
// A pinned link outlives the process: if Confab crashes, the filter keeps
// guarding the interface (the SIP guard and unknown-flow drops stay in
// force; known flows fall back to the kernel's sockets as their AF_XDP
// sockets are gone), and the next start finds the pin and swaps its new
// program in atomically (BPF_LINK_UPDATE), with no moment unguarded. An
// attachment of Confab's program made with the older netlink API is
// detached and replaced. Another program, or Confab's held by a live
// process, is left alone: ErrForeignProgram or ErrBusy.
//
// Runs on the calling thread's network namespace.
func attach(prog *ebpf.Program, ifindex int, want Mode, pin string, log *slog.Logger) (*attachment, error) {
	if pin != "" {
		a, err := adoptPinned(prog, ifindex, want, pin, log)
		if a != nil || err != nil {
			return a, err
		}
	}
	var replaced string
	st, err := queryXDP(ifindex)
	if err != nil {
		return nil, err
	}
	if st.progID != 0 {
		if replaced, err = clearStale(ifindex, st); err != nil {
			return nil, err
		}
		log.Warn("replaced a stale XDP attachment", "ifindex", ifindex, "what", replaced)
	}

	modes := []Mode{want}
	if want == ModeAuto {
		modes = []Mode{ModeDriver, ModeGeneric}
	}
	var errs []error
	for _, m := range modes {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: m.flags()})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
			continue
		}
		a := &attachment{link: l, mode: m, replaced: replaced}
		a.pinNote = pinLink(a, pin)
		return a, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrAttach, errors.Join(errs...))
}

// adoptPinned takes over a link pinned by an earlier run that did not
// detach (a crash, a kill): it updates the link to prog. It returns nil
// and no error when there is nothing to adopt.
func adoptPinned(prog *ebpf.Program, ifindex int, want Mode, pin string, log *slog.Logger) (*attachment, error) {
	if _, err := os.Stat(pin); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		log.Warn("removing an unusable pin", "pin", pin, "err", err)
		_ = os.Remove(pin)
		return nil, nil
	}
	drop := func(why string) (*attachment, error) {
		log.Warn("removing a pinned XDP link that is not this interface's", "pin", pin, "why", why)
		_ = l.Unpin()
		_ = l.Close()
		return nil, nil
	}
	info, err := l.Info()
	if err != nil || info.Type != link.XDPType || info.XDP() == nil || int(info.XDP().Ifindex) != ifindex {
		return drop("another interface or link type")
	}
	// The ifindex alone could name an interface of another namespace.
	st, err := queryXDP(ifindex)
	if err != nil || uint32(info.Program) != st.progID {
		return drop("its program is not the one running here")
	}
	mode := ModeDriver
	if st.attached == xdpAttachedSKB {
		mode = ModeGeneric
	}
	if want != ModeAuto && want != mode {
		return drop(fmt.Sprintf("attached in %s mode, %s wanted", mode, want))
	}
	if err := l.Update(prog); err != nil {
		return drop(fmt.Sprintf("update: %v", err))
	}
	log.Warn("took over the XDP link a previous run left pinned", "pin", pin, "link", info.ID, "old_program", info.Program)
	return &attachment{link: l, mode: mode, pinned: pin,
		replaced: fmt.Sprintf("took over link %d pinned by a previous run", info.ID)}, nil
}

// clearStale removes an attachment of Confab's program that no live link
// holds (made with the netlink API), and refuses anything else.
func clearStale(ifindex int, st xdpState) (string, error) {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(st.progID))
	if err != nil {
		return "", fmt.Errorf("%w: program %d: %v", ErrForeignProgram, st.progID, err)
	}
	info, err := p.Info()
	p.Close()
	if err != nil {
		return "", fmt.Errorf("%w: program %d: %v", ErrForeignProgram, st.progID, err)
	}
	if info.Name != progName && info.Name != progNameShort {
		return "", fmt.Errorf("%w: %q (id %d)", ErrForeignProgram, info.Name, st.progID)
	}
	if id, ok := linkOf(st.progID); ok {
		return "", fmt.Errorf("%w: link %d holds it (program %d)", ErrBusy, id, st.progID)
	}
	flags := uint32(unix.XDP_FLAGS_DRV_MODE)
	if st.attached == xdpAttachedSKB {
		flags = unix.XDP_FLAGS_SKB_MODE
	}
	if err := setXDPFD(ifindex, -1, flags); err != nil {
		return "", err
	}
	return fmt.Sprintf("detached program %d left attached through netlink", st.progID), nil
}

// linkOf finds a live XDP bpf_link running program id.
func linkOf(id uint32) (link.ID, bool) {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err == nil && info.Type == link.XDPType && uint32(info.Program) == id {
			return it.ID, true
		}
	}
	return 0, false
}

// pinLink pins a fresh link at pin and says why not when it cannot.
func pinLink(a *attachment, pin string) string {
	if pin == "" {
		return "not pinned"
	}
	dir := filepath.Dir(pin)
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(dir), &fs); err != nil || fs.Type != bpfFSMagic {
		return fmt.Sprintf("not pinned: %s is not on a BPF filesystem", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Sprintf("not pinned: %v", err)
	}
	if err := a.link.Pin(pin); err != nil {
		return fmt.Sprintf("not pinned: %v", err)
	}
	a.pinned = pin
	return ""
}
