// Package edid parses the Extended Display Identification Data that a
// display (or anything that pretends to be one: an IP-KVM's HDMI capture
// bridge, a dummy plug, a virtual display driver) gives the computer.
//
// It reads the 128-byte base block of EDID 1.x (VESA E-EDID A.2):
// manufacturer PNP id, product code, serial number, week and year of
// manufacture or model year, version, digital or analog input, physical
// size, the text descriptors (monitor name 0xFC, monitor serial 0xFF,
// unspecified text 0xFE) and the preferred detailed timing. Of the extension
// blocks it reads their count, their checksums and, when the base block has
// no detailed timing, the first detailed timing of a CTA-861 extension.
//
// It also reads what a real panel's EDID usually shows and a template in a
// capture chip, KVM or dummy plug often does not, for the rules to weigh
// (Features): the timings offered (established, standard and detailed),
// the range limits descriptor, the EDID 1.4 video interface, and of a
// CTA-861 extension its audio, its video formats (VICs), its HDMI and HDMI
// Forum vendor blocks and its HDR metadata; and whether a DisplayID
// extension is present.
//
// Parse does not allocate: the text descriptors are kept in the EDID value
// and become strings only when asked for.
package edid

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/bits"
	"strings"
)

// BlockSize is the size of the base block and of each extension block.
const BlockSize = 128

// MaxBlocks bounds the blocks read: the extension count is one byte.
const MaxBlocks = 256

// ErrShort is returned for data shorter than one block.
var ErrShort = errors.New("edid: shorter than 128 bytes")

var header = [8]byte{0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}

// Descriptor tags of the 18-byte display descriptors.
const (
	TagSerial = 0xff // display product serial number
	TagASCII  = 0xfe // alphanumeric data string
	TagName   = 0xfc // display product name
)

// Timing is a detailed timing: the active picture and its refresh rate.
type Timing struct {
	Width, Height  int // pixels; for an interlaced mode the frame height
	PixelClockKHz  int
	RefreshMilliHz int // field rate for an interlaced mode
	Interlaced     bool
}

// RefreshHz is the refresh rate rounded to whole hertz.
func (t Timing) RefreshHz() int { return (t.RefreshMilliHz + 500) / 1000 }

// text is one text descriptor, its bytes as stored (up to 13).
type text struct {
	tag byte
	n   uint8
	b   [13]byte
}

// EDID is a parsed EDID. The zero value is an EDID that said nothing.
type EDID struct {
	HeaderValid  bool
	Mfg          [3]byte // PNP id letters, as edid-decode shows them
	Product      uint16
	SerialNumber uint32
	Week         int // 1-54, 0 when not given, as stored when out of range; 0 with ModelYear
	Year         int // 1990 + byte 17
	ModelYear    bool
	Version      int
	Revision     int
	Digital      bool
	WidthCM      int // 0 when not given (or an aspect ratio)
	HeightCM     int
	Preferred    Timing // zero when no detailed timing was found
	Extensions   int    // extension blocks declared in byte 126
	Blocks       int    // blocks present and checked, at most 1+Extensions
	BadBlocks    int    // blocks present whose checksum fails
	BaseBad      bool   // the base block's checksum fails

	Features

	texts [4]text
	ntext int
}

// Features are the parts of an EDID that say what the sink offers, as a
// count or a flag. They are zero when the block that would hold them is
// absent.
type Features struct {
	// EstablishedTimings is the number of established timings (bytes
	// 35-37, the 17 VESA modes and the manufacturer's bit) set.
	EstablishedTimings int
	// StandardTimings is the number of standard timings (bytes 38-53)
	// that are not unused (01 01 or 00 00).
	StandardTimings int
	// DetailedTimings is the number of detailed timing descriptors in the
	// base block (0-4).
	DetailedTimings int
	// RangeLimits: the base block has a display range limits descriptor
	// (0xFD).
	RangeLimits bool
	// Interface is the digital video interface of an EDID 1.4 (byte 20
	// bits 3-0): "dvi", "hdmi-a", "hdmi-b", "mddi", "dp", or "" when
	// undefined, analog or EDID 1.3.
	Interface string
	// CTA: a CTA-861 extension block is present.
	CTA bool
	// CTAAudio: the CTA-861 extension says the sink takes basic audio
	// (byte 3 bit 6) or has an audio data block.
	CTAAudio bool
	// CTAVICs is the number of short video descriptors (VICs) in the
	// video data blocks of the CTA-861 extensions.
	CTAVICs int
	// HDMI: an HDMI 1.x vendor-specific data block (IEEE OUI 00-0C-03).
	HDMI bool
	// HDMIForum: an HDMI Forum vendor-specific data block (OUI
	// C4-5D-D8), which HDMI 2.0 and later sinks have.
	HDMIForum bool
	// HDR: an HDR static metadata data block (extended tag 6).
	HDR bool
	// DisplayID: a DisplayID extension block (tag 0x70) is present.
	DisplayID bool
}

// Parse parses b, which holds the base block and any extension blocks. It
// fails only when b is shorter than one block; a bad header or checksum is
// reported in the result, never refused, because a forged EDID is exactly
// what the caller wants to see.
func Parse(b []byte) (EDID, error) {
	var e EDID
	err := ParseInto(b, &e)
	return e, err
}

// ParseInto is Parse into a caller's EDID, which it overwrites.
func ParseInto(b []byte, e *EDID) error {
	*e = EDID{}
	if len(b) < BlockSize {
		return ErrShort
	}
	e.HeaderValid = [8]byte(b[0:8]) == header
	m := uint16(b[8])<<8 | uint16(b[9])
	e.Mfg = [3]byte{letter(m >> 10), letter(m >> 5), letter(m)}
	e.Product = uint16(b[10]) | uint16(b[11])<<8
	e.SerialNumber = uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24
	if b[16] == 0xff {
		e.ModelYear = true
	} else {
		e.Week = int(b[16])
	}
	e.Year = 1990 + int(b[17])
	e.Version, e.Revision = int(b[18]), int(b[19])
	e.Digital = b[20]&0x80 != 0
	if b[21] != 0 && b[22] != 0 {
		e.WidthCM, e.HeightCM = int(b[21]), int(b[22])
	}
	if e.Digital && e.Version == 1 && e.Revision >= 4 {
		e.Interface = videoInterface(b[20] & 0x0f)
	}
	e.EstablishedTimings = bits.OnesCount32(uint32(b[35])<<16 | uint32(b[36])<<8 | uint32(b[37]))
	for off := 38; off < 54; off += 2 {
		if !(b[off] == 1 && b[off+1] == 1) && !(b[off] == 0 && b[off+1] == 0) {
			e.StandardTimings++
		}
	}
	for off := 54; off <= 108; off += 18 {
		d := b[off : off+18]
		if d[0] != 0 || d[1] != 0 {
			e.DetailedTimings++
			if e.Preferred.Width == 0 {
				e.Preferred = timing(d)
			}
			continue
		}
		if d[2] != 0 {
			continue
		}
		switch d[3] {
		case tagRangeLimits:
			e.RangeLimits = true
		case TagName, TagSerial, TagASCII:
			t := &e.texts[e.ntext]
			t.tag = d[3]
			t.n = uint8(textLen(d[5:18]))
			copy(t.b[:], d[5:18])
			e.ntext++
		}
	}
	e.Extensions = int(b[126])
	n := len(b) / BlockSize
	if n > 1+e.Extensions {
		n = 1 + e.Extensions
	}
	e.Blocks = n
	for i := 0; i < n; i++ {
		if blockSum(b[i*BlockSize:(i+1)*BlockSize]) != 0 {
			e.BadBlocks++
			e.BaseBad = e.BaseBad || i == 0
		}
		if i == 0 {
			continue
		}
		x := b[i*BlockSize : (i+1)*BlockSize]
		if e.Preferred.Width == 0 {
			e.Preferred = ctaTiming(x)
		}
		switch x[0] {
		case 0x02:
			e.cta(x)
		case 0x70:
			e.DisplayID = true
		}
	}
	return nil
}

// tagRangeLimits is the display range limits descriptor.
const tagRangeLimits = 0xfd

// videoInterface names the EDID 1.4 digital interface code.
func videoInterface(v byte) string {
	switch v {
	case 1:
		return "dvi"
	case 2:
		return "hdmi-a"
	case 3:
		return "hdmi-b"
	case 4:
		return "mddi"
	case 5:
		return "dp"
	}
	return ""
}

// IEEE OUIs of the vendor-specific data blocks, as stored (little endian).
const (
	ouiHDMI      = 0x000c03
	ouiHDMIForum = 0xc45dd8
)

// cta reads the data block collection of a CTA-861 extension block x:
// from byte 4 up to the detailed timings (byte 2), revision 3 and later
// (earlier revisions have no data blocks). A block that runs past the
// collection ends it.
func (e *EDID) cta(x []byte) {
	e.CTA = true
	if x[1] >= 2 && x[3]&0x40 != 0 {
		e.CTAAudio = true
	}
	end := int(x[2])
	if x[1] < 3 || end < 4 || end > 127 {
		return
	}
	for p := 4; p < end; {
		tag, n := x[p]>>5, int(x[p]&0x1f)
		if p+1+n > end {
			return
		}
		blk := x[p+1 : p+1+n]
		switch tag {
		case 1: // audio
			e.CTAAudio = true
		case 2: // video
			e.CTAVICs += n
		case 3: // vendor-specific
			if n >= 3 {
				switch uint32(blk[0]) | uint32(blk[1])<<8 | uint32(blk[2])<<16 {
				case ouiHDMI:
					e.HDMI = true
				case ouiHDMIForum:
					e.HDMIForum = true
				}
			}
		case 7: // extended tag
			if n >= 1 {
				switch blk[0] {
				case 6:
					e.HDR = true
				case 0x78, 0x79: // HDMI Forum EDID extension override, sink capability
					e.HDMIForum = true
				}
			}
		}
		p += 1 + n
	}
}

// blockSum is the sum of a block's 128 bytes, modulo 256: zero for a
// block whose checksum is right. It adds eight bytes at a time, each in a
// 16-bit lane of two accumulators (16 words: no lane overflows).
func blockSum(blk []byte) byte {
	const mask = 0x00ff00ff00ff00ff
	var even, odd uint64
	for i := 0; i+8 <= len(blk); i += 8 {
		w := binary.LittleEndian.Uint64(blk[i:])
		even += w & mask
		odd += (w >> 8) & mask
	}
	t := even + odd
	t += t >> 32
	t += t >> 16
	return byte(t)
}

// letter is one letter of a PNP id: five bits, 1 is 'A'. Codes outside
// A-Z are shown as edid-decode shows them ('@' for 0, '[' to '_' for 27-31).
func letter(v uint16) byte { return byte('@' + v&0x1f) }

// textLen is the length of a descriptor's text: up to the 0x0A that ends
// it, without trailing spaces and NULs.
func textLen(d []byte) int {
	n := 0
	for n < len(d) && d[n] != 0x0a {
		n++
	}
	for n > 0 && (d[n-1] == ' ' || d[n-1] == 0) {
		n--
	}
	return n
}

// timing decodes an 18-byte detailed timing descriptor.
func timing(d []byte) Timing {
	clock := int(d[0]) | int(d[1])<<8 // 10 kHz units
	w := int(d[2]) | int(d[4]&0xf0)<<4
	hb := int(d[3]) | int(d[4]&0x0f)<<8
	h := int(d[5]) | int(d[7]&0xf0)<<4
	vb := int(d[6]) | int(d[7]&0x0f)<<8
	t := Timing{Width: w, Height: h, PixelClockKHz: clock * 10, Interlaced: d[17]&0x80 != 0}
	if total := (w + hb) * (h + vb); total > 0 {
		t.RefreshMilliHz = int((int64(clock)*10_000_000 + int64(total)/2) / int64(total))
	}
	if t.Interlaced {
		t.Height *= 2
	}
	return t
}

// ctaTiming is the first detailed timing of a CTA-861 extension block, or
// the zero Timing.
func ctaTiming(x []byte) Timing {
	if x[0] != 0x02 {
		return Timing{}
	}
	off := int(x[2])
	if off < 4 {
		return Timing{}
	}
	for ; off+18 <= 127; off += 18 {
		d := x[off : off+18]
		if d[0] == 0 && d[1] == 0 {
			return Timing{}
		}
		if t := timing(d); t.Width > 0 {
			return t
		}
	}
	return Timing{}
}

// ChecksumValid reports whether every block present passes its checksum.
func (e *EDID) ChecksumValid() bool { return e.Blocks > 0 && e.BadBlocks == 0 }

// Manufacturer is the three-letter PNP id ("DEL", "LNX").
func (e *EDID) Manufacturer() string { return string(e.Mfg[:]) }

// Name is the display product name (descriptor 0xFC); several name
// descriptors are joined, as monitors split long names.
func (e *EDID) Name() string { return e.join(TagName) }

// Serial is the display product serial (descriptor 0xFF).
func (e *EDID) Serial() string { return e.join(TagSerial) }

// ASCII returns the unspecified text descriptors (0xFE), in order.
func (e *EDID) ASCII() []string {
	var out []string
	for i := 0; i < e.ntext; i++ {
		if t := &e.texts[i]; t.tag == TagASCII {
			out = append(out, printable(t.b[:t.n]))
		}
	}
	return out
}

func (e *EDID) join(tag byte) string {
	var n, first = 0, -1
	for i := 0; i < e.ntext; i++ {
		if e.texts[i].tag == tag {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		t := &e.texts[first]
		return printable(t.b[:t.n])
	}
	var sb strings.Builder
	for i := 0; i < e.ntext; i++ {
		if t := &e.texts[i]; t.tag == tag {
			sb.WriteString(printable(t.b[:t.n]))
		}
	}
	return sb.String()
}

// printable is the text with every byte outside printable ASCII replaced
// by '?', so that it is valid UTF-8 whatever the display sent.
func printable(b []byte) string {
	clean := true
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// DecodeHex decodes EDID bytes written as hex text, as tools print them and
// as the KVM projects publish them: whitespace and line breaks anywhere, an
// optional "0x" before a byte, upper or lower case.
func DecodeHex(s string) ([]byte, error) {
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			continue
		case c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X'):
			i++
			continue
		}
		buf = append(buf, c)
	}
	out := make([]byte, hex.DecodedLen(len(buf)))
	if _, err := hex.Decode(out, buf); err != nil {
		return nil, err
	}
	return out, nil
}
