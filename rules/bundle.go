package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// MaxBundleBytes bounds a rule bundle: what a collector pushes and what an
// agent accepts.
const MaxBundleBytes = 2 << 20

// NewBundle makes the bundle a collector pushes to its agents from the
// organisation's rule files. Its version is a digest of the names and
// contents, so the same files make the same version on every collector;
// no files make the empty bundle, version "".
func NewBundle(srcs []Source) (*fwv1.RuleBundle, error) {
	b := &fwv1.RuleBundle{}
	if len(srcs) == 0 {
		return b, nil
	}
	sorted := slices.SortedFunc(slices.Values(srcs), func(a, b Source) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	var total int
	for i, s := range sorted {
		if i > 0 && sorted[i-1].Name == s.Name {
			return nil, fmt.Errorf("rule bundle: two files named %s", s.Name)
		}
		total += len(s.Data)
		if total > MaxBundleBytes {
			return nil, fmt.Errorf("rule bundle: over %d bytes at %s", MaxBundleBytes, s.Name)
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s.Name)))
		h.Write(n[:])
		h.Write([]byte(s.Name))
		binary.BigEndian.PutUint64(n[:], uint64(len(s.Data)))
		h.Write(n[:])
		h.Write(s.Data)
		b.Files = append(b.Files, &fwv1.RuleFile{Name: s.Name, Data: s.Data})
	}
	b.Version = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return b, nil
}

// BundleSources checks a received bundle (its version must be the digest
// of its files, so a bundle cannot claim another's version) and returns its
// files as sources to load on top of the built-in rules.
func BundleSources(b *fwv1.RuleBundle) ([]Source, error) {
	var srcs []Source
	for _, f := range b.GetFiles() {
		if f.GetName() == "" {
			return nil, fmt.Errorf("rule bundle %s: a file without a name", b.GetVersion())
		}
		srcs = append(srcs, Source{Name: f.GetName(), Data: f.GetData()})
	}
	again, err := NewBundle(srcs)
	if err != nil {
		return nil, err
	}
	if again.Version != b.GetVersion() {
		return nil, fmt.Errorf("rule bundle %q: its files digest to %q", b.GetVersion(), again.Version)
	}
	return srcs, nil
}
