// Package fleethash is the salted hash of network identifiers that agents
// send instead of the identifiers and the collector compares: the MACs of
// gateways, neighbours and a host's own interfaces, Wi-Fi SSIDs and
// BSSIDs. Both binaries use it: the agent hashes what it sees, the
// collector hashes the gateway MACs an organisation declares (--org
// networks) to compare them with what agents send.
//
// The key is the fleet salt: the trimmed text of the collector's
// DIR/fleet-salt, which the collector hands every agent, so one
// identifier has one hash across the fleet and "host A sees host B" is a
// comparison of hashes.
package fleethash

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The kinds of identifier, the prefix of what is hashed.
const (
	MAC   = "mac"
	SSID  = "ssid"
	BSSID = "bssid"
)

// Hash is HMAC-SHA256(salt, kind+":"+value), hex of the first 16 bytes;
// "" for an empty value. A MAC is hashed in the form NormMAC gives it.
func Hash(salt, kind, value string) string {
	if value == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(kind + ":" + value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// NormMAC writes a MAC as six lower-case, two-digit, colon-separated bytes
// ("0:11:2:33:44:55", "00-11-02-33-44-55" and "00:11:02:33:44:55" alike);
// anything else is "". All-zero, broadcast and multicast addresses are ""
// too.
func NormMAC(s string) string {
	s = strings.TrimSpace(strings.ToLower(strings.ReplaceAll(s, "-", ":")))
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return ""
	}
	for i, p := range parts {
		if len(p) == 0 || len(p) > 2 {
			return ""
		}
		if len(p) == 1 {
			p = "0" + p
		}
		if _, err := hex.DecodeString(p); err != nil {
			return ""
		}
		parts[i] = p
	}
	out := strings.Join(parts, ":")
	if out == "00:00:00:00:00:00" || out == "ff:ff:ff:ff:ff:ff" {
		return ""
	}
	if b, _ := hex.DecodeString(parts[0]); b[0]&1 == 1 { // multicast
		return ""
	}
	return out
}

// MACHash is the hash of a MAC in any of the forms NormMAC takes; "" when
// it is not one.
func MACHash(salt, mac string) string { return Hash(salt, MAC, NormMAC(mac)) }
