package locale

import (
	"os"
	"reflect"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// The databases in testdata were written by dconf itself (dconf-cli
// 0.40.0, Debian 12): `dconf compile testdata/NAME DIR` from keyfiles; a
// user's ~/.config/dconf/user has the same format.
//
//	dconf-user-hangul: sources [('xkb','us'), ('ibus','hangul')], mru-sources [('ibus','hangul'), ('xkb','us')],
//	                   preload-engines ['xkb:us::eng', 'hangul'], clock-format '24h'
//	dconf-user-many:   43 sources and 42 engines (2-byte framing offsets), mru-sources [('xkb','kr+kr104')]
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGVDB(t *testing.T) {
	db, err := parseGVDB(readTestdata(t, "dconf-user-hangul"))
	if err != nil {
		t.Fatal(err)
	}
	if v := db["/org/gnome/desktop/interface/clock-format"]; v.typ != "s" {
		t.Errorf("clock-format: %+v", v)
	} else if s, ok := gvString(v.data); !ok || s != "24h" {
		t.Errorf("clock-format = %q, %v", s, ok)
	}
	if d := cmp.Diff([]string{"xkb:us::eng", "hangul"}, gvStrings(db["/desktop/ibus/general/preload-engines"])); d != "" {
		t.Errorf("preload-engines -want +got\n%s", d)
	}
	if d := cmp.Diff([][2]string{{"xkb", "us"}, {"ibus", "hangul"}}, gvStringPairs(db["/org/gnome/desktop/input-sources/sources"])); d != "" {
		t.Errorf("sources -want +got\n%s", d)
	}
	got := dconfKeyboards("minsu", "/home/minsu/.config/dconf/user", db)
	want := []*fwv1.KeyboardLayout{
		{Username: "minsu", Source: "gnome", Path: "/home/minsu/.config/dconf/user", Layout: "us", Language: "en"},
		{Username: "minsu", Source: "ibus", Path: "/home/minsu/.config/dconf/user", InputMethod: "hangul", Language: "ko", Active: true},
		{Username: "minsu", Source: "ibus", Path: "/home/minsu/.config/dconf/user", Layout: "us", Language: "en"},
		{Username: "minsu", Source: "ibus", Path: "/home/minsu/.config/dconf/user", InputMethod: "hangul", Language: "ko"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("keyboards -want +got\n%s", d)
	}
}

func TestParseGVDBLarge(t *testing.T) {
	db, err := parseGVDB(readTestdata(t, "dconf-user-many"))
	if err != nil {
		t.Fatal(err)
	}
	src := gvStringPairs(db["/org/gnome/desktop/input-sources/sources"])
	if len(src) != 43 || src[2] != [2]string{"xkb", "kr+kr104"} || src[42] != [2]string{"ibus", "m17n:zz:engine39"} {
		t.Errorf("sources: %d %v", len(src), src)
	}
	if e := gvStrings(db["/desktop/ibus/general/preload-engines"]); len(e) != 42 || e[41] != "m17n:zz:engine39" {
		t.Errorf("engines: %d %v", len(e), e)
	}
	ks := dconfKeyboards("u", "/p", db)
	if ks[2].Layout != "kr" || ks[2].Variant != "kr104" || !ks[2].Active || ks[0].Active {
		t.Errorf("kr+kr104: %v; us: %v", ks[2], ks[0])
	}
}

func TestParseGVDBBad(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("GVariant"), []byte("xVariant\x00\x00\x00\x00\x00\x00\x00\x00\x18\x00\x00\x00\x20\x00\x00\x00"),
		[]byte("GVariant\x00\x00\x00\x00\x00\x00\x00\x00\x18\x00\x00\x00\xff\x00\x00\x00")} {
		if _, err := parseGVDB(b); err == nil {
			t.Errorf("parseGVDB(%q): no error", b)
		}
	}
	if got := gvStringPairs(gvValue{typ: "a(ss)", data: []byte("ibus\x00hangul\x00\x09\x0d\x01")}); got != nil {
		t.Errorf("bad framing: %v", got)
	}
	if got := gvStrings(gvValue{typ: "s", data: []byte("x\x00")}); got != nil {
		t.Errorf("wrong type: %v", got)
	}
}

func FuzzParseGVDB(f *testing.F) {
	f.Add(readTestdata(f, "dconf-user-hangul"))
	f.Add(readTestdata(f, "dconf-user-many"))
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := parseGVDB(b)
		if err != nil {
			return
		}
		n := 0
		for _, v := range db {
			if n++; n > 16 { // each is linear in its size; all of them would be quadratic
				break
			}
			_ = gvStrings(gvValue{typ: "as", data: v.data})
			_ = gvStringPairs(gvValue{typ: "a(ss)", data: v.data})
		}
		if again, err := parseGVDB(b); err != nil || !reflect.DeepEqual(again, db) {
			t.Fatalf("parsing twice: %v", err)
		}
		n = 0
		for _, v := range db {
			if n++; n > 16 {
				break
			}
			for _, s := range gvStrings(gvValue{typ: "as", data: v.data}) {
				if strings.IndexByte(s, 0) >= 0 {
					t.Fatalf("string %q holds a NUL", s)
				}
			}
		}
		for _, k := range dconfKeyboards("u", "/p", db) {
			if k.InputMethod == "" && k.Layout == "" {
				t.Fatalf("empty %v", k)
			}
			if k.Username != "u" || k.Path != "/p" || k.Source != "gnome" && k.Source != "ibus" {
				t.Fatalf("input source %v", k)
			}
		}
	})
}
