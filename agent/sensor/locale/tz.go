package locale

import (
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // the tz database for hosts without zoneinfo files (Windows)

	"github.com/farmwatch/farmwatch/agent/host"
)

// zoneName is what an IANA name may look like: no "..", no leading slash.
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,3}$`)

// zoneFromLink returns the IANA name in a /etc/localtime link target:
// what follows "zoneinfo/" ("/usr/share/zoneinfo/Asia/Seoul",
// "../usr/share/zoneinfo/posix/Asia/Seoul",
// "/var/db/timezone/zoneinfo/Asia/Seoul" on macOS), "" when there is none.
func zoneFromLink(target string) string {
	i := strings.LastIndex(target, "zoneinfo/")
	if i < 0 {
		return ""
	}
	name := target[i+len("zoneinfo/"):]
	for _, pre := range []string{"posix/", "right/"} {
		name = strings.TrimPrefix(name, pre)
	}
	if !zoneName.MatchString(name) {
		return ""
	}
	return name
}

// zoneFromFile returns the IANA name in /etc/timezone: its first line.
func zoneFromFile(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimSpace(s)
	if !zoneName.MatchString(s) {
		return ""
	}
	return s
}

// utcOffset is the offset of zone at the host's capture time, and whether
// it is known. It reads the host's own /usr/share/zoneinfo/NAME through the
// door when there is one (a live scan records it in the snapshot), so that a
// replayed host is judged by its own tz database. Otherwise (Windows, or a
// snapshot without the file) it falls back to time.LoadLocation: the tz
// database of the machine running the scan when it has one, else Go's
// embedded copy (time/tzdata). Go offers no way to ask for the embedded
// copy first, so a host without zoneinfo files may be judged by the
// scanning machine's rules for that zone; for the zones that matter here
// (fixed offsets without daylight saving) both agree.
func utcOffset(h *host.Host, zone string) (int32, bool) {
	if !zoneName.MatchString(zone) {
		return 0, false
	}
	at := h.Captured()
	if at.IsZero() {
		at = time.Now()
	}
	var loc *time.Location
	if b, err := h.ReadFile("/usr/share/zoneinfo/" + zone); err == nil {
		loc, _ = time.LoadLocationFromTZData(zone, b)
	}
	if loc == nil {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return 0, false
		}
		loc = l
	}
	_, off := at.In(loc).Zone()
	return int32(off), true
}
