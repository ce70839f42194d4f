package build

import (
	"fmt"
	"io"
	"os"

	"confab/image/boot"
	"confab/image/gpt"
)

// Layout is the image's partition table for a disk of DiskSize.
func Layout(version string) gpt.Table {
	const s = gpt.SectorSize
	first := uint64(mib / s)
	part := func(typ gpt.GUID, name string, start, size uint64) gpt.Partition {
		return gpt.Partition{Type: typ, ID: gpt.DerivedGUID(version + "/" + name), First: start, Last: start + size/s - 1, Name: name}
	}
	esp := part(gpt.TypeESP, boot.LabelESP, first, ESPSize)
	a := part(gpt.TypeRootAMD64, boot.SlotLabel("a"), esp.Last+1, SlotSize)
	b := part(gpt.TypeRootAMD64, boot.SlotLabel("b"), a.Last+1, SlotSize)
	return gpt.Table{Disk: gpt.DerivedGUID(version + "/disk"), Partitions: []gpt.Partition{esp, a, b}}
}

// assembleDisk writes the partition table and copies the ESP and slot A's
// root into place; slot B stays a hole (zeros) in a sparse file.
func assembleDisk(dst, esp, root, version string) error {
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := f.Truncate(DiskSize); err != nil {
		f.Close()
		return err
	}
	t := Layout(version)
	if err := gpt.Write(f, DiskSize/gpt.SectorSize, t); err != nil {
		f.Close()
		return err
	}
	for i, src := range []string{esp, root} {
		p := t.Partitions[i]
		in, err := os.Open(src)
		if err != nil {
			f.Close()
			return err
		}
		st, _ := in.Stat()
		if uint64(st.Size()) > p.Size() {
			in.Close()
			f.Close()
			return fmt.Errorf("%w: %s is %d bytes, partition %s %d", ErrTooBig, src, st.Size(), p.Name, p.Size())
		}
		_, err = io.Copy(io.NewOffsetWriter(f, int64(p.First*gpt.SectorSize)), in)
		in.Close()
		if err != nil {
			f.Close()
			return fmt.Errorf("build: copy %s: %w", src, err)
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
