package geoip

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// write makes a tiny MaxMind DB with the writer library: each CIDR with
// its record.
func write(t *testing.T, typ string, recs map[string]mmdbtype.Map) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 24, Description: map[string]string{"en": "farmwatch test " + typ}})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range recs {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), typ+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func country(c string) mmdbtype.Map {
	return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(c)}}
}

func TestLookup(t *testing.T) {
	cdb := write(t, "GeoLite2-Country", map[string]mmdbtype.Map{
		"81.2.69.0/24":   country("GB"),
		"2a01:4f8::/32":  country("de"),
		"175.16.0.0/16":  country("KOR"),                     // not alpha-2: unknown
		"89.160.20.0/24": {"country": mmdbtype.String("SE")}, // not the shape: unknown
	})
	adb := write(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"81.2.69.0/24": {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")},
	})
	db, err := Open([]string{cdb, adb})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(db.Types(), ","); got != "GeoLite2-Country,GeoLite2-ASN" {
		t.Errorf("types %s", got)
	}
	for _, tc := range []struct {
		ip, country string
		asn         uint32
	}{
		{"81.2.69.160", "GB", 20712},
		{"::ffff:81.2.69.160", "GB", 20712},
		{"2a01:4f8::7", "DE", 0},
		{"175.16.199.1", "", 0},
		{"89.160.20.112", "", 0},
		{"198.51.100.7", "", 0},
		{"not an address", "", 0},
		{"", "", 0},
	} {
		c, a := db.Lookup(tc.ip)
		if c != tc.country || a != tc.asn {
			t.Errorf("%q: %q %d, want %q %d", tc.ip, c, a, tc.country, tc.asn)
		}
	}
	if c, a := (*DB)(nil).Lookup("81.2.69.160"); c != "" || a != 0 {
		t.Error("no database answers")
	}
}

// A file that is not a whole MaxMind DB is refused at Open, naming it.
func TestOpenRefuses(t *testing.T) {
	good := write(t, "GeoLite2-Country", map[string]mmdbtype.Map{"81.2.69.0/24": country("GB")})
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		return p
	}
	// The search tree cut: the metadata at the end still reads.
	cut := append(append([]byte{}, b[:len(b)/4]...), b[len(b)/2:]...)
	// A search-tree record pointing past the data section.
	flipped := append([]byte{}, b...)
	flipped[0], flipped[1], flipped[2] = 0xff, 0xff, 0xf0
	for _, p := range []string{
		bad("empty.mmdb", nil),
		bad("text.mmdb", []byte("hostname,person\n")),
		bad("half.mmdb", b[:len(b)/2]),
		bad("cut.mmdb", cut),
		bad("flipped.mmdb", flipped),
		dir,
		filepath.Join(dir, "none.mmdb"),
	} {
		if _, err := Open([]string{good, p}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

// FuzzOpen: any bytes either open as a database that answers lookups
// without failing, or are refused.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24, Description: map[string]string{"en": "seed"}})
	if err != nil {
		f.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("81.2.69.0/24")
	w.Insert(n, country("GB"))
	var seed bytes.Buffer
	w.WriteTo(&seed)
	f.Add(seed.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.mmdb")
		os.WriteFile(p, b, 0o600)
		db, err := Open([]string{p})
		if err != nil {
			return
		}
		for _, ip := range []string{"81.2.69.160", "2001:db8::1", "0.0.0.0"} {
			if c, _ := db.Lookup(ip); c != "" && !alpha2(c) {
				t.Fatalf("country %q", c)
			}
		}
	})
}
