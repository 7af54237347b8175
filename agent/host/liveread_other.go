//go:build !unix

package host

import "os"

// liveRead reads a file of the live machine (liveread_unix.go says why
// Unix reads differently).
func liveRead(path string, buf []byte) ([]byte, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, buf, err
	}
	defer f.Close()
	b, err := readAll(f)
	return b, buf, err
}
