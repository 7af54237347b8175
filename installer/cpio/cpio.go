// Package cpio writes and reads cpio archives in the portable "odc"
// format (POSIX.1 octet-oriented cpio, magic 070707), the format of the
// Payload and Scripts archives of a macOS package. Each entry is a 76-byte
// header of octal ASCII fields
//
//	magic(6) dev(6) ino(6) mode(6) uid(6) gid(6) nlink(6) rdev(6)
//	mtime(11) namesize(6) filesize(11)
//
// then the name with its NUL (namesize bytes) and the data (filesize
// bytes; a symlink's data is its target), without padding. The archive
// ends with an entry named TRAILER!!!.
package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"
)

// Entry is one file, directory or symlink.
type Entry struct {
	Name     string      // "./usr/local/bin/farmwatch-agent"
	Mode     fs.FileMode // permission bits and fs.ModeDir or fs.ModeSymlink
	UID, GID int
	MTime    time.Time
	Data     []byte // a file's content
	Link     string // a symlink's target
}

const (
	typeDir     = 0o040000
	typeRegular = 0o100000
	typeSymlink = 0o120000
	trailer     = "TRAILER!!!"
)

func unixMode(m fs.FileMode) int64 {
	t := int64(typeRegular)
	switch {
	case m&fs.ModeDir != 0:
		t = typeDir
	case m&fs.ModeSymlink != 0:
		t = typeSymlink
	}
	return t | int64(m.Perm()) | map[bool]int64{true: 0o4000}[m&fs.ModeSetuid != 0] | map[bool]int64{true: 0o2000}[m&fs.ModeSetgid != 0] | map[bool]int64{true: 0o1000}[m&fs.ModeSticky != 0]
}

// Write writes the entries and the trailer.
func Write(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	for i, e := range entries {
		data := e.Data
		nlink := 1
		switch {
		case e.Mode&fs.ModeDir != 0:
			data, nlink = nil, 2
		case e.Mode&fs.ModeSymlink != 0:
			data = []byte(e.Link)
		}
		if err := header(bw, int64(i+1), unixMode(e.Mode), e.UID, e.GID, nlink, e.MTime.Unix(), e.Name, int64(len(data))); err != nil {
			return err
		}
		bw.Write(data)
	}
	if err := header(bw, 0, 0, 0, 0, 1, 0, trailer, 0); err != nil {
		return err
	}
	return bw.Flush()
}

func header(w *bufio.Writer, ino, mode int64, uid, gid, nlink int, mtime int64, name string, size int64) error {
	field := func(v int64, width int) (string, error) {
		s := strconv.FormatInt(v, 8)
		if v < 0 || len(s) > width {
			return "", fmt.Errorf("cpio: %s: value %d does not fit %d octal digits", name, v, width)
		}
		return fmt.Sprintf("%0*s", width, s), nil
	}
	var h string
	for _, f := range []struct {
		v     int64
		width int
	}{{0, 6}, {ino, 6}, {mode, 6}, {int64(uid), 6}, {int64(gid), 6}, {int64(nlink), 6}, {0, 6}, {mtime, 11}, {int64(len(name) + 1), 6}, {size, 11}} {
		s, err := field(f.v, f.width)
		if err != nil {
			return err
		}
		h += s
	}
	_, err := w.WriteString("070707" + h + name + "\x00")
	return err
}

// Read reads every entry up to the trailer.
func Read(r io.Reader) ([]Entry, error) {
	br := bufio.NewReader(r)
	var out []Entry
	for {
		var h [76]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return nil, fmt.Errorf("cpio: header: %w", err)
		}
		if string(h[:6]) != "070707" {
			return nil, fmt.Errorf("cpio: bad magic %q", h[:6])
		}
		var f [10]int64
		off := 6
		for i, width := range []int{6, 6, 6, 6, 6, 6, 6, 11, 6, 11} {
			v, err := strconv.ParseInt(string(h[off:off+width]), 8, 64)
			if err != nil {
				return nil, fmt.Errorf("cpio: header field %d: %w", i, err)
			}
			f[i], off = v, off+width
		}
		mode, uid, gid, mtime, namesize, size := f[2], f[3], f[4], f[7], f[8], f[9]
		if namesize < 1 || namesize > 4096 || size > 1<<32 {
			return nil, errors.New("cpio: bad name or file size")
		}
		name := make([]byte, namesize)
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, fmt.Errorf("cpio: name: %w", err)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("cpio: data: %w", err)
		}
		e := Entry{Name: string(name[:namesize-1]), Mode: fs.FileMode(mode & 0o777), UID: int(uid), GID: int(gid), MTime: time.Unix(mtime, 0).UTC()}
		if e.Name == trailer {
			return out, nil
		}
		if mode&0o4000 != 0 {
			e.Mode |= fs.ModeSetuid
		}
		switch mode & 0o170000 {
		case typeDir:
			e.Mode |= fs.ModeDir
		case typeSymlink:
			e.Mode |= fs.ModeSymlink
			e.Link = string(data)
		case typeRegular:
			e.Data = data
		default:
			return nil, fmt.Errorf("cpio: %s: unsupported type %o", e.Name, mode&0o170000)
		}
		out = append(out, e)
	}
}
