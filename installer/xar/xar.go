// Package xar writes and reads xar archives, the container of a macOS
// flat package (.pkg). An archive is
//
//	header (28 bytes, big-endian): magic "xar!", header size 28, version 1,
//	  compressed TOC length (8), uncompressed TOC length (8), checksum
//	  algorithm (4; 1 is SHA-1)
//	the table of contents: XML, zlib-compressed
//	the heap: at offset 0 the SHA-1 of the compressed TOC, then each
//	  file's data
//
// The TOC names each file with its type, mode, owner and times, and for a
// file its data's offset and length in the heap, its encoding and the
// SHA-1 of the archived and the extracted data. This writer stores data
// as is (application/octet-stream); the reader also inflates
// application/x-gzip (zlib) data.
package xar

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"
)

// File is a file or a directory of the archive.
type File struct {
	Name       string
	Dir        bool
	Mode       fs.FileMode // permission bits
	UID, GID   int
	User       string // "root"
	Group      string // "wheel"
	MTime      time.Time
	Data       []byte  // a file's content
	Children   []*File // a directory's
	Compressed bool    // read: the data was stored zlib-compressed
}

type tocXML struct {
	XMLName xml.Name `xml:"xar"`
	TOC     struct {
		Checksum struct {
			Style  string `xml:"style,attr"`
			Offset int64  `xml:"offset"`
			Size   int64  `xml:"size"`
		} `xml:"checksum"`
		CreationTime string     `xml:"creation-time"`
		Files        []*fileXML `xml:"file"`
	} `xml:"toc"`
}

type checksumXML struct {
	Style string `xml:"style,attr"`
	Value string `xml:",chardata"`
}

type fileXML struct {
	ID   int      `xml:"id,attr"`
	Data *dataXML `xml:"data,omitempty"`
	// times are ISO 8601, UTC
	CTime string     `xml:"ctime,omitempty"`
	MTime string     `xml:"mtime,omitempty"`
	ATime string     `xml:"atime,omitempty"`
	Group string     `xml:"group,omitempty"`
	GID   int        `xml:"gid"`
	User  string     `xml:"user,omitempty"`
	UID   int        `xml:"uid"`
	Mode  string     `xml:"mode"`
	Type  string     `xml:"type"`
	Name  string     `xml:"name"`
	Files []*fileXML `xml:"file"`
}

type dataXML struct {
	Length   int64 `xml:"length"`
	Offset   int64 `xml:"offset"`
	Size     int64 `xml:"size"`
	Encoding struct {
		Style string `xml:"style,attr"`
	} `xml:"encoding"`
	Archived  checksumXML `xml:"archived-checksum"`
	Extracted checksumXML `xml:"extracted-checksum"`
}

const (
	magic      = 0x78617221 // "xar!"
	headerSize = 28
	algSHA1    = 1
	octets     = "application/octet-stream"
	zlibStyle  = "application/x-gzip" // xar's name for zlib data
)

// Write writes an archive of files (the top level) created at created.
func Write(w io.Writer, files []*File, created time.Time) error {
	var toc tocXML
	toc.TOC.Checksum.Style, toc.TOC.Checksum.Size = "sha1", sha1.Size
	toc.TOC.CreationTime = created.UTC().Format("2006-01-02T15:04:05Z")
	heap := &bytes.Buffer{}
	heap.Write(make([]byte, sha1.Size)) // the TOC's checksum, filled in below
	id := 0
	var conv func(f *File) (*fileXML, error)
	conv = func(f *File) (*fileXML, error) {
		if f.Name == "" || f.Name == "." || f.Name == ".." || bytes.ContainsAny([]byte(f.Name), "/\x00") {
			return nil, fmt.Errorf("xar: bad name %q", f.Name)
		}
		id++
		t := f.MTime.UTC().Format("2006-01-02T15:04:05Z")
		x := &fileXML{ID: id, CTime: t, MTime: t, ATime: t, Group: f.Group, GID: f.GID, User: f.User, UID: f.UID,
			Mode: fmt.Sprintf("%04o", uint32(f.Mode.Perm())), Type: "file", Name: f.Name}
		if f.Dir {
			x.Type = "directory"
			for _, c := range f.Children {
				cx, err := conv(c)
				if err != nil {
					return nil, err
				}
				x.Files = append(x.Files, cx)
			}
			return x, nil
		}
		sum := sha1.Sum(f.Data)
		d := &dataXML{Length: int64(len(f.Data)), Offset: int64(heap.Len()), Size: int64(len(f.Data))}
		d.Encoding.Style = octets
		d.Archived = checksumXML{"sha1", hex.EncodeToString(sum[:])}
		d.Extracted = d.Archived
		x.Data = d
		heap.Write(f.Data)
		return x, nil
	}
	for _, f := range files {
		x, err := conv(f)
		if err != nil {
			return err
		}
		toc.TOC.Files = append(toc.TOC.Files, x)
	}
	plain, err := xml.MarshalIndent(toc, "", " ")
	if err != nil {
		return err
	}
	plain = append([]byte(xml.Header), plain...)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(plain)
	if err := zw.Close(); err != nil {
		return err
	}
	sum := sha1.Sum(z.Bytes())
	h := heap.Bytes()
	copy(h, sum[:])
	var hdr [headerSize]byte
	binary.BigEndian.PutUint32(hdr[0:], magic)
	binary.BigEndian.PutUint16(hdr[4:], headerSize)
	binary.BigEndian.PutUint16(hdr[6:], 1)
	binary.BigEndian.PutUint64(hdr[8:], uint64(z.Len()))
	binary.BigEndian.PutUint64(hdr[16:], uint64(len(plain)))
	binary.BigEndian.PutUint32(hdr[24:], algSHA1)
	for _, b := range [][]byte{hdr[:], z.Bytes(), h} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Archive is a read archive.
type Archive struct {
	TOC   []byte  // the table of contents, XML
	Files []*File // the top level
}

// Read reads an archive and checks the TOC's checksum and every file's.
func Read(b []byte) (*Archive, error) {
	be := binary.BigEndian
	if len(b) < headerSize || be.Uint32(b) != magic {
		return nil, errors.New("xar: not a xar archive")
	}
	hsize, clen, ulen, alg := int(be.Uint16(b[4:])), be.Uint64(b[8:]), be.Uint64(b[16:]), be.Uint32(b[24:])
	if hsize < headerSize || uint64(hsize)+clen > uint64(len(b)) || ulen > 64<<20 {
		return nil, errors.New("xar: bad header")
	}
	if alg != algSHA1 {
		return nil, fmt.Errorf("xar: checksum algorithm %d: only SHA-1 (1) is read", alg)
	}
	ztoc := b[hsize : uint64(hsize)+clen]
	heap := b[uint64(hsize)+clen:]
	zr, err := zlib.NewReader(bytes.NewReader(ztoc))
	if err != nil {
		return nil, fmt.Errorf("xar: TOC: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(zr, int64(ulen)+1))
	if err != nil {
		return nil, fmt.Errorf("xar: TOC: %w", err)
	}
	if uint64(len(plain)) != ulen {
		return nil, fmt.Errorf("xar: TOC is %d bytes, header says %d", len(plain), ulen)
	}
	var toc tocXML
	if err := xml.Unmarshal(plain, &toc); err != nil {
		return nil, fmt.Errorf("xar: TOC: %w", err)
	}
	c := toc.TOC.Checksum
	if c.Style != "sha1" || c.Size != sha1.Size || c.Offset < 0 || c.Offset+c.Size > int64(len(heap)) {
		return nil, errors.New("xar: bad TOC checksum entry")
	}
	if sum := sha1.Sum(ztoc); !bytes.Equal(sum[:], heap[c.Offset:c.Offset+c.Size]) {
		return nil, errors.New("xar: the TOC does not match its checksum")
	}
	var conv func(x *fileXML, depth int) (*File, error)
	conv = func(x *fileXML, depth int) (*File, error) {
		if depth > 64 {
			return nil, errors.New("xar: too deep")
		}
		mode, _ := strconv.ParseUint(x.Mode, 8, 32)
		mt, _ := time.Parse("2006-01-02T15:04:05Z", x.MTime)
		f := &File{Name: x.Name, Mode: fs.FileMode(mode).Perm(), UID: x.UID, GID: x.GID, User: x.User, Group: x.Group, MTime: mt}
		switch x.Type {
		case "directory":
			f.Dir = true
			for _, cx := range x.Files {
				cf, err := conv(cx, depth+1)
				if err != nil {
					return nil, err
				}
				f.Children = append(f.Children, cf)
			}
			return f, nil
		case "file":
		default:
			return nil, fmt.Errorf("xar: %s: type %q", x.Name, x.Type)
		}
		if x.Data == nil {
			return f, nil
		}
		d := x.Data
		if d.Offset < 0 || d.Length < 0 || d.Offset+d.Length > int64(len(heap)) {
			return nil, fmt.Errorf("xar: %s: data outside the heap", x.Name)
		}
		raw := heap[d.Offset : d.Offset+d.Length]
		if err := check(x.Name, "archived", d.Archived, raw); err != nil {
			return nil, err
		}
		switch d.Encoding.Style {
		case octets, "":
			f.Data = raw
		case zlibStyle:
			zr, err := zlib.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("xar: %s: %w", x.Name, err)
			}
			if f.Data, err = io.ReadAll(io.LimitReader(zr, d.Size+1)); err != nil {
				return nil, fmt.Errorf("xar: %s: %w", x.Name, err)
			}
			f.Compressed = true
		default:
			return nil, fmt.Errorf("xar: %s: encoding %q", x.Name, d.Encoding.Style)
		}
		if int64(len(f.Data)) != d.Size {
			return nil, fmt.Errorf("xar: %s: %d bytes, TOC says %d", x.Name, len(f.Data), d.Size)
		}
		if err := check(x.Name, "extracted", d.Extracted, f.Data); err != nil {
			return nil, err
		}
		return f, nil
	}
	a := &Archive{TOC: plain}
	for _, x := range toc.TOC.Files {
		f, err := conv(x, 0)
		if err != nil {
			return nil, err
		}
		a.Files = append(a.Files, f)
	}
	return a, nil
}

func check(name, what string, c checksumXML, b []byte) error {
	if c.Style != "sha1" {
		return fmt.Errorf("xar: %s: %s checksum %q: only sha1 is read", name, what, c.Style)
	}
	if sum := sha1.Sum(b); hex.EncodeToString(sum[:]) != c.Value {
		return fmt.Errorf("xar: %s: the %s data does not match its checksum", name, what)
	}
	return nil
}

// Walk calls fn for every file and directory with its path ("a/b").
func (a *Archive) Walk(fn func(path string, f *File)) {
	var walk func(prefix string, fs []*File)
	walk = func(prefix string, files []*File) {
		for _, f := range files {
			fn(prefix+f.Name, f)
			walk(prefix+f.Name+"/", f.Children)
		}
	}
	walk("", a.Files)
}

// Lookup returns the file at path, or nil.
func (a *Archive) Lookup(path string) *File {
	var found *File
	a.Walk(func(p string, f *File) {
		if p == path {
			found = f
		}
	})
	return found
}
