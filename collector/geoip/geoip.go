// Package geoip looks up where an egress IP is: its country and its
// autonomous system, from MaxMind-format databases (serve --geoip FILE,
// GeoLite2/GeoIP2 Country or City, and ASN; DB-IP's and IPinfo's MMDB
// files carry the same fields). The collector compares them with what the
// roster claims for the host's person.
//
// A file is read whole into memory, bounded, and verified before use: a
// memory-mapped file that is replaced or truncated while in use would
// fault the collector, and a malformed one must be refused at start, not
// found out at a lookup.
package geoip

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MaxBytes bounds one database file (GeoIP2-City is about 130 MB).
const MaxBytes = 1 << 30

// DB is one or more databases; the first that knows a field answers.
type DB struct {
	readers []*maxminddb.Reader
	names   []string
}

// record is the fields read: GeoIP2/GeoLite2 Country and City put the
// country at country.iso_code, the ASN databases the number at
// autonomous_system_number.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
}

// Open reads and verifies the databases at paths.
func Open(paths []string) (*DB, error) {
	db := &DB{}
	for _, p := range paths {
		r, err := open(p)
		if err != nil {
			return nil, fmt.Errorf("geoip %s: %w", p, err)
		}
		db.readers = append(db.readers, r)
		db.names = append(db.names, r.Metadata.DatabaseType)
	}
	return db, nil
}

func open(path string) (*maxminddb.Reader, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("over %d bytes", MaxBytes)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("not a MaxMind DB file: %w", err)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("a damaged MaxMind DB file: %w", err)
	}
	return r, nil
}

// Types are the databases' types ("GeoLite2-Country", "GeoLite2-ASN").
func (db *DB) Types() []string {
	if db == nil {
		return nil
	}
	return db.names
}

// Lookup is the country (ISO 3166 alpha-2, "" when unknown) and the ASN (0
// when unknown) of an IP address. A database whose record does not decode
// as these fields answers nothing for it.
func (db *DB) Lookup(ip string) (country string, asn uint32) {
	if db == nil {
		return "", 0
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", 0
	}
	a = a.Unmap().WithZone("")
	for _, r := range db.readers {
		var rec record
		res := r.Lookup(a)
		if !res.Found() || res.Decode(&rec) != nil {
			continue
		}
		if c := strings.ToUpper(rec.Country.ISOCode); country == "" && alpha2(c) {
			country = c
		}
		if asn == 0 {
			asn = rec.ASN
		}
	}
	return country, asn
}

func alpha2(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}
