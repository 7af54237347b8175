package process

// verElems bounds what VerQueryValue reports of a value inside a version
// resource read from an executable, which anyone can write: n elements of
// size bytes at address p must lie inside the block [start, start+length)
// that GetFileVersionInfo filled. It returns how many do (0 when p is
// outside the block), so that no slice reaches past the buffer, whatever
// length the file claims.
func verElems(start, length, p, n, size uintptr) uintptr {
	if size == 0 || p < start || p >= start+length {
		return 0
	}
	return min(n, (start+length-p)/size)
}
