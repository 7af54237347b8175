package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// The record format of a segment (see the package documentation): a
// 16-byte header (length, CRC-32C of seq and payload, seq) and the payload.

const headerSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord returns the header and payload of one record.
func encodeRecord(seq uint64, payload []byte) []byte {
	buf := make([]byte, headerSize+len(payload))
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(buf[8:], seq)
	copy(buf[headerSize:], payload)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], castagnoli))
	return buf
}

// readError is a bad record: torn, too long, failing its checksum or out
// of order.
type readError string

func (e readError) Error() string { return string(e) }

// reader walks the records of one segment.
type reader struct {
	r    *bufio.Reader
	size int64  // bytes in the file
	off  int64  // where the next header starts
	good int64  // end of the last good record
	prev uint64 // seq of the last good record
	hdr  [headerSize]byte
	buf  []byte
	// set after a bad record whose extent is known, so countRest can skip it
	skip int64
}

func newReader(r io.Reader, size int64, prev uint64) *reader {
	return &reader{r: bufio.NewReaderSize(r, 64<<10), size: size, prev: prev}
}

// next returns the next good record (its payload valid until the next
// call), io.EOF at a clean end, a readError at a bad record, or the error
// of the underlying read.
func (rd *reader) next() (uint64, []byte, error) {
	rd.skip = 0
	if rd.off == rd.size {
		return 0, nil, io.EOF
	}
	if rd.size-rd.off < headerSize {
		return 0, nil, readError("torn record header")
	}
	if _, err := io.ReadFull(rd.r, rd.hdr[:]); err != nil {
		return 0, nil, readFail(err)
	}
	n := binary.LittleEndian.Uint32(rd.hdr[0:])
	sum := binary.LittleEndian.Uint32(rd.hdr[4:])
	seq := binary.LittleEndian.Uint64(rd.hdr[8:])
	if n > MaxPayload {
		return 0, nil, readError("record length over the limit")
	}
	end := rd.off + headerSize + int64(n)
	if end > rd.size {
		return 0, nil, readError("torn record")
	}
	if cap(rd.buf) < int(n) {
		rd.buf = make([]byte, n)
	}
	payload := rd.buf[:n]
	if _, err := io.ReadFull(rd.r, payload); err != nil {
		return 0, nil, readFail(err)
	}
	rd.off = end
	crc := crc32.Update(crc32.Checksum(rd.hdr[8:], castagnoli), castagnoli, payload)
	if crc != sum {
		rd.skip = end
		return 0, nil, readError("record checksum mismatch")
	}
	if seq <= rd.prev {
		rd.skip = end
		return 0, nil, readError("record seq out of order")
	}
	rd.prev = seq
	rd.good = end
	return seq, payload, nil
}

// readFail turns a short read (the file shrank under us) into a bad record.
func readFail(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return readError("torn record")
	}
	return err
}

// countRest counts the good records that follow a bad one whose extent
// was known; they are lost with it.
func (rd *reader) countRest() int {
	if rd.skip == 0 {
		return 0
	}
	n := 0
	for {
		if _, _, err := rd.next(); err != nil && rd.skip == 0 {
			return n
		}
		n++ // a good record, or another bad one of known extent
	}
}
