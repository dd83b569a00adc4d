package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// archive is the VM's initramfs before it is written: every path in the
// image (absolute, as in the VM) and what it is. Parents are added as
// directories; a later add of a path replaces the earlier one.
type archive struct {
	entries map[string]entry
}

type entry struct {
	mode   uint32 // type and permission bits, as in a cpio header
	src    string // a regular file's contents: a host file (links followed)
	data   []byte // or these bytes
	target string // a symlink's target
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeType = 0o170000
)

func newArchive() *archive { return &archive{entries: map[string]entry{}} }

func (a *archive) parents(p string) {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := a.entries[d]; !ok {
			a.entries[d] = entry{mode: modeDir | 0o755}
		}
	}
}

func (a *archive) dir(p string, perm uint32) {
	a.parents(p)
	a.entries[p] = entry{mode: modeDir | perm}
}

func (a *archive) symlink(p, target string) {
	a.parents(p)
	a.entries[p] = entry{mode: modeLink | 0o777, target: target}
}

func (a *archive) bytes(p string, data []byte, perm uint32) {
	a.parents(p)
	a.entries[p] = entry{mode: modeFile | perm, data: data}
}

// file adds host file src (its contents and permissions, links followed)
// at p.
func (a *archive) file(p, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	a.parents(p)
	a.entries[p] = entry{mode: modeFile | uint32(st.Mode().Perm()), src: src}
	return nil
}

// program adds host file src at p, executable whatever src's mode is.
func (a *archive) program(p, src string) error {
	if err := a.file(p, src); err != nil {
		return err
	}
	e := a.entries[p]
	e.mode |= 0o755
	a.entries[p] = e
	return nil
}

// write writes the archive in the kernel's initramfs format (cpio "newc",
// uncompressed: the emulated CPU unpacks it faster than it would gunzip
// it), parents before children, owned by root.
func (a *archive) write(w io.Writer) error {
	names := make([]string, 0, len(a.entries))
	for p := range a.entries {
		names = append(names, p)
	}
	sort.Strings(names) // a parent sorts before everything under it
	for i, p := range names {
		if err := writeEntry(w, uint32(i+1), p, a.entries[p]); err != nil {
			return err
		}
	}
	return writeHeader(w, 0, 0, 0, "TRAILER!!!")
}

func writeEntry(w io.Writer, ino uint32, p string, e entry) error {
	var body io.Reader
	size := int64(0)
	switch e.mode & modeType {
	case modeLink:
		body, size = strings.NewReader(e.target), int64(len(e.target))
	case modeFile:
		body, size = strings.NewReader(string(e.data)), int64(len(e.data))
		if e.src != "" {
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			body, size = f, st.Size()
		}
	}
	if err := writeHeader(w, ino, e.mode, size, strings.TrimPrefix(p, "/")); err != nil {
		return err
	}
	if body == nil {
		return nil
	}
	if n, err := io.CopyN(w, body, size); err != nil {
		return fmt.Errorf("%s: %w (copied %d of %d bytes)", p, err, n, size)
	}
	return pad(w, size)
}

func writeHeader(w io.Writer, ino, mode uint32, size int64, name string) error {
	nlink := 1
	if mode&modeType == modeDir {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize (with its NUL), check.
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	if _, err := io.WriteString(w, h+name+"\x00"); err != nil {
		return err
	}
	return pad(w, int64(len(h)+len(name)+1))
}

// pad fills up to the next multiple of four bytes.
func pad(w io.Writer, n int64) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
