package dumpconv

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// RegKey is one key of a .reg file: its full path as written
// (HKEY_LOCAL_MACHINE\SYSTEM\...) and its values by name ("" is the
// default value, written @).
type RegKey struct {
	Path   string
	Values map[string]RegValue
}

// RegValue is one value: its type (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ,
// REG_DWORD, REG_QWORD, REG_BINARY, REG_NONE, or "hex(N)" for another) and
// its bytes as the registry holds them (strings in UTF-16LE).
type RegValue struct {
	Type string
	Data []byte
}

// String is a REG_SZ or REG_EXPAND_SZ value as text, NULs trimmed.
func (v RegValue) String() string {
	s := utf16le(v.Data)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}

// Strings is a REG_MULTI_SZ value.
func (v RegValue) Strings() []string {
	var out []string
	for _, s := range strings.Split(utf16le(v.Data), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Uint32 is a REG_DWORD value.
func (v RegValue) Uint32() (uint32, bool) {
	if len(v.Data) < 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(v.Data), true
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// maxRegLine bounds one logical line of a .reg file.
const maxRegLine = 4 << 20

// ParseRegExport parses a .reg file as `reg export` and regedit write it:
// "Windows Registry Editor Version 5.00" (UTF-16LE with a byte-order mark,
// or UTF-8) or "REGEDIT4" (ANSI, whose hex(2)/hex(7) strings are 8-bit),
// [KEY] headers, "name"=value lines, and values continued over lines ending
// in a backslash. Deleted keys ([-KEY]) and values (=-) are skipped.
func ParseRegExport(b []byte) ([]RegKey, error) {
	text := decodeRegText(b)
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if len(lines) == 0 {
		return nil, errors.New("reg: empty")
	}
	head := strings.TrimSpace(strings.TrimPrefix(lines[0], "\ufeff"))
	wide := true
	switch head {
	case "Windows Registry Editor Version 5.00":
	case "REGEDIT4":
		wide = false
	default:
		return nil, fmt.Errorf("reg: unknown header %q", head)
	}
	var keys []RegKey
	var cur *RegKey
	for i := 1; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, `\`) && !strings.HasPrefix(line, "[") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + strings.TrimSpace(lines[i])
			if len(line) > maxRegLine {
				return nil, errors.New("reg: line too long")
			}
		}
		switch {
		case line == "" || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[-"):
			cur = nil
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			keys = append(keys, RegKey{Path: line[1 : len(line)-1], Values: map[string]RegValue{}})
			cur = &keys[len(keys)-1]
		case cur != nil:
			name, rest, ok := regName(line)
			if !ok {
				return nil, fmt.Errorf("reg: line %d: %q", i+1, clip(line))
			}
			if rest == "-" {
				continue
			}
			v, err := regData(rest, wide)
			if err != nil {
				return nil, fmt.Errorf("reg: line %d: %w", i+1, err)
			}
			cur.Values[name] = v
		}
	}
	return keys, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

// decodeRegText reads UTF-16LE (with its byte-order mark) or UTF-8.
func decodeRegText(b []byte) string {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		return utf16le(b[2:])
	}
	return string(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
}

// regName splits `"name"=rest` or `@=rest`, unescaping \\ and \".
func regName(line string) (string, string, bool) {
	if rest, ok := strings.CutPrefix(line, "@="); ok {
		return "", rest, true
	}
	if !strings.HasPrefix(line, `"`) {
		return "", "", false
	}
	var name strings.Builder
	for i := 1; i < len(line); i++ {
		switch c := line[i]; c {
		case '\\':
			if i+1 < len(line) {
				i++
				name.WriteByte(line[i])
			}
		case '"':
			rest, ok := strings.CutPrefix(line[i+1:], "=")
			return name.String(), rest, ok
		default:
			name.WriteByte(c)
		}
	}
	return "", "", false
}

func regData(s string, wide bool) (RegValue, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		if len(s) < 2 || !strings.HasSuffix(s, `"`) {
			return RegValue{}, errors.New("unterminated string")
		}
		str := strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(s[1 : len(s)-1])
		return RegValue{Type: "REG_SZ", Data: utf16Bytes(str + "\x00")}, nil
	case strings.HasPrefix(s, "dword:"):
		n, err := strconv.ParseUint(strings.TrimPrefix(s, "dword:"), 16, 32)
		if err != nil {
			return RegValue{}, fmt.Errorf("dword: %w", err)
		}
		return RegValue{Type: "REG_DWORD", Data: binary.LittleEndian.AppendUint32(nil, uint32(n))}, nil
	case strings.HasPrefix(s, "hex"):
		kind, list, ok := strings.Cut(s, ":")
		if !ok {
			return RegValue{}, errors.New("hex without data")
		}
		data, err := hex.DecodeString(strings.NewReplacer(",", "", " ", "").Replace(list))
		if err != nil {
			return RegValue{}, fmt.Errorf("hex: %w", err)
		}
		t := map[string]string{"hex": "REG_BINARY", "hex(0)": "REG_NONE", "hex(1)": "REG_SZ", "hex(2)": "REG_EXPAND_SZ",
			"hex(3)": "REG_BINARY", "hex(4)": "REG_DWORD", "hex(7)": "REG_MULTI_SZ", "hex(b)": "REG_QWORD"}[strings.ToLower(kind)]
		if t == "" {
			t = kind
		}
		if !wide && (t == "REG_SZ" || t == "REG_EXPAND_SZ" || t == "REG_MULTI_SZ") {
			data = utf16Bytes(string(data)) // REGEDIT4 writes these 8-bit
		}
		return RegValue{Type: t, Data: data}, nil
	}
	return RegValue{}, fmt.Errorf("unknown value %q", clip(s))
}

func utf16Bytes(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// Key returns the key of the given path (case-insensitive), nil when absent.
func Key(keys []RegKey, path string) *RegKey {
	for i := range keys {
		if strings.EqualFold(keys[i].Path, path) {
			return &keys[i]
		}
	}
	return nil
}
