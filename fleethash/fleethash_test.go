package fleethash

import (
	"regexp"
	"testing"
)

func TestHash(t *testing.T) {
	h := Hash("salt", MAC, "f4:92:bf:10:20:01")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h) {
		t.Fatalf("hash %q", h)
	}
	for _, other := range []string{Hash("", MAC, "f4:92:bf:10:20:01"), Hash("salt", BSSID, "f4:92:bf:10:20:01"), Hash("salt2", MAC, "f4:92:bf:10:20:01")} {
		if other == h {
			t.Errorf("another salt or kind gives the same hash %s", h)
		}
	}
	if Hash("salt", MAC, "") != "" {
		t.Error("an empty value has a hash")
	}
	for _, in := range []string{"F4-92-BF-10-20-01", " f4:92:bf:10:20:1 ", "F4:92:BF:10:20:01"} {
		if got := MACHash("salt", in); got != h {
			t.Errorf("MACHash(%q) = %s, want %s", in, got, h)
		}
	}
}

func TestNormMAC(t *testing.T) {
	for in, want := range map[string]string{
		"0:11:2:33:44:55":   "00:11:02:33:44:55",
		"00-11-02-33-44-55": "00:11:02:33:44:55",
		"00:00:00:00:00:00": "",
		"ff:ff:ff:ff:ff:ff": "",
		"01:00:5e:00:00:fb": "", // multicast
		"00:11:22:33:44":    "",
		"00:11:22:33:44:zz": "",
		"000:11:22:33:44:5": "",
	} {
		if got := NormMAC(in); got != want {
			t.Errorf("NormMAC(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzNormMAC: a normalised MAC is 17 bytes of the one form, normalising it
// again changes nothing, and its hash depends only on the MAC.
func FuzzNormMAC(f *testing.F) {
	for _, s := range []string{"0:11:2:33:44:55", "AA-BB-CC-DD-EE-FF", "", "::::::", "01:00:5e:00:00:fb"} {
		f.Add(s)
	}
	form := regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)
	f.Fuzz(func(t *testing.T, s string) {
		n := NormMAC(s)
		if n == "" {
			if MACHash("k", s) != "" {
				t.Fatalf("no MAC %q has a hash", s)
			}
			return
		}
		if !form.MatchString(n) || NormMAC(n) != n {
			t.Fatalf("NormMAC(%q) = %q: not one form, or not stable", s, n)
		}
		if MACHash("k", s) != Hash("k", MAC, n) {
			t.Fatalf("MACHash(%q) is not the hash of %q", s, n)
		}
	})
}
