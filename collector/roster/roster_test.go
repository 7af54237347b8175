package roster

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

const good = "\xef\xbb\xbfHostname, Person ,email,country,region,city,timezone,team\n" +
	"ann-laptop,Ann Lee,ann@example.com,us,NY,New York,America/New_York,sales\n" +
	"\n" +
	"\"bo-laptop\",\"Park, Bo\",,DE,,,,\n" +
	"cy-laptop,Cy Kim\n"

func TestParse(t *testing.T) {
	r, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 3 {
		t.Fatalf("%d entries", r.Len())
	}
	ann := r.Person("ANN-LAPTOP.")
	if ann == nil || ann.Name != "Ann Lee" || ann.Country != "US" || ann.Timezone != "America/New_York" || ann.City != "New York" {
		t.Fatalf("ann: %v", ann)
	}
	if bo := r.Person("bo-laptop"); bo.GetName() != "Park, Bo" || bo.GetCountry() != "DE" || r.Entries()[1].Line != 4 {
		t.Fatalf("bo: %v line %d", bo, r.Entries()[1].Line)
	}
	if r.Person("nobody") != nil || (*Roster)(nil).Person("ann-laptop") != nil {
		t.Fatal("a host not on the roster has a person")
	}
}

// Each fault is refused with the line it is on.
func TestParseRefuses(t *testing.T) {
	const head = "hostname,person,email,country,timezone\n"
	for _, tc := range []struct {
		in   string
		line int
		want string
	}{
		{"", 1, "empty"},
		{"host,name\n", 1, "no hostname column"},
		{"hostname,hostname,person\n", 1, "twice"},
		{head + "a,Ann,,,\n,Bo,,,\n", 3, "hostname is empty"},
		{head + "a,,,,\n", 2, "has no person"},
		{head + "a,Ann,ann,,\n", 2, "email"},
		{head + "a,Ann,,USA,\n", 2, "ISO 3166"},
		{head + "a,Ann,,US,America/Nowhere\n", 2, "IANA"},
		{head + "a,Ann,,US,../../etc/passwd\n", 2, "IANA"},
		{head + "a,Ann,,US,Local\n", 2, "IANA"},
		{head + "a,Ann,,,\nb,Bo,,,\nA,Cy,,,\n", 4, "line 2 already"},
		{head + "a b,Ann,,,\n", 2, "spaces"},
		{head + "a,\"Ann\n", 2, "quote"},
		{head + "a,Ann\x01,,,\n", 2, "control"},
		{head + "a,Ann,,,\nb,\xff,,,\n", 3, "UTF-8"},
		{head + "a," + strings.Repeat("x", 300) + ",,,\n", 2, "limit"},
	} {
		_, err := Parse([]byte(tc.in))
		var re *Error
		if !errors.As(err, &re) || re.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want line %d with %q", tc.in, err, tc.line, tc.want)
		}
	}
}

// FuzzParse: a roster that parses has hosts and people, alpha-2 countries,
// loadable time zones and unique hostnames, and written out again as CSV
// it parses to the same entries; one that is refused names a line within
// the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{good, "hostname,person\na,b\n", "hostname,person,timezone\na,b,UTC\nc,d,Europe/Berlin\n",
		"person,hostname\n\"x\"\"y\",h\n", "hostname,person\na,b\nA,c\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Line < 1 || re.Line > bytes.Count(b, []byte("\n"))+2 {
				t.Fatalf("refusal %v: want a line within the input", err)
			}
			return
		}
		var out bytes.Buffer
		w := csv.NewWriter(&out)
		w.Write(columns)
		seen := map[string]bool{}
		for _, e := range r.Entries() {
			p := e.Person
			if e.Hostname == "" || p.Name == "" || seen[Key(e.Hostname)] || (p.Country != "" && !isAlpha2(p.Country)) {
				t.Fatalf("entry %+v", e)
			}
			seen[Key(e.Hostname)] = true
			if r.Person(e.Hostname) != p {
				t.Fatalf("%q does not find its own entry", e.Hostname)
			}
			w.Write([]string{e.Hostname, p.Name, p.Email, p.Country, p.Region, p.City, p.Timezone})
		}
		w.Flush()
		again, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("written out again, refused: %v\n%s", err, out.Bytes())
		}
		if again.Len() != r.Len() {
			t.Fatalf("%d entries, then %d", r.Len(), again.Len())
		}
		for i, e := range again.Entries() {
			if e.Hostname != r.Entries()[i].Hostname || !proto.Equal(e.Person, r.Entries()[i].Person) {
				t.Fatalf("entry %d: %+v, then %+v", i, r.Entries()[i], e)
			}
		}
	})
}

// Hostile text in any field is refused with its line: an override that
// would make the farms table show another name than the one stored.
func TestParseRefusesBidi(t *testing.T) {
	const head = "hostname,person,email,country,region,city,timezone\n"
	for _, row := range []string{
		"a,Ann \u202eeeL\u202c,,,,,\n",
		"a,Ann,,,,New \u2066York,\n",
		"a\u202e,Ann,,,,,\n",
		"a,Ann,,,NY\u2069,,\n",
	} {
		_, err := Parse([]byte(head + "ok,Bo,,,,,\n" + row))
		var re *Error
		if !errors.As(err, &re) || re.Line != 3 || !strings.Contains(err.Error(), "bidirectional") {
			t.Errorf("%q: %v", row, err)
		}
	}
	// A right-to-left name with its marks is a name.
	if _, err := Parse([]byte(head + "a,\u05d3\u05e0\u05d4 \u200f\u05dc\u05d5\u05d9,,IL,,,Asia/Jerusalem\n")); err != nil {
		t.Errorf("a Hebrew name: %v", err)
	}
}

// More rows than MaxRows are refused at the first row over, not read on.
func TestParseRefusesTooManyRows(t *testing.T) {
	if testing.Short() {
		t.Skip("parses a million rows")
	}
	var b bytes.Buffer
	b.WriteString("hostname,person\n")
	for i := range MaxRows + 1 {
		fmt.Fprintf(&b, "h%d,p\n", i)
	}
	_, err := Parse(b.Bytes())
	var re *Error
	if !errors.As(err, &re) || re.Line != MaxRows+2 || !strings.Contains(err.Error(), "rows") {
		t.Fatalf("%v; want line %d, too many rows", err, MaxRows+2)
	}
}

// ReadFile reads regular files only, up to MaxBytes.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.csv")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("hostname,person\n")
	if err := f.Truncate(MaxBytes + 1); err != nil { // a hole reads as zeros
		t.Fatal(err)
	}
	f.Close()
	if _, err := Read(big); err == nil || !strings.Contains(err.Error(), "over") || !strings.Contains(err.Error(), big) {
		t.Errorf("a file over MaxBytes: %v", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none.csv")); err == nil || !strings.Contains(err.Error(), "none.csv") {
		t.Errorf("a missing file: %v", err)
	}
	if runtime.GOOS != "windows" {
		if _, err := Read(os.DevNull); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", os.DevNull, err)
		}
	}
	ok := filepath.Join(dir, "ok.csv")
	os.WriteFile(ok, []byte("hostname,person\na,Ann\n"), 0o600)
	if r, err := Read(ok); err != nil || r.Len() != 1 {
		t.Errorf("a good roster: %v", err)
	}
}
