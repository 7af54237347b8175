package bom

// Cksum is the CRC of POSIX cksum(1), the checksum a Bom records for each
// file: CRC-32 with polynomial 0x04C11DB7, most significant bit first,
// over the data and then its length (least significant byte first, as
// many bytes as it needs), complemented.
func Cksum(data []byte) uint32 {
	var crc uint32
	step := func(b byte) {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	for _, b := range data {
		step(b)
	}
	for n := len(data); n > 0; n >>= 8 {
		step(byte(n))
	}
	return ^crc
}
