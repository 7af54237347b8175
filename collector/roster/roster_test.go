package roster

import (
	"bytes"
	"encoding/csv"
	"errors"
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
