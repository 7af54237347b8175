package edid

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const corpus = "../../testdata/edid"

// readCorpusFile reads one EDID file of testdata/edid: .bin is raw, .hex and
// .txt are hex text.
func readCorpusFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(p, ".bin") {
		return b
	}
	out, err := DecodeHex(string(b))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return out
}

// got is what a test compares: the parse, with the strings.
type got struct {
	Mfg                  string
	Product              uint16
	Serial               uint32
	Week, Year           int
	ModelYear            bool
	Name, MonitorSerial  string
	ASCII                []string
	W, H, PW, PH, Hz     int
	Ext, Blocks, Bad     int
	Digital, HeaderValid bool
}

func summary(e EDID) got {
	return got{
		Mfg: e.Manufacturer(), Product: e.Product, Serial: e.SerialNumber, Week: e.Week, Year: e.Year,
		ModelYear: e.ModelYear, Name: e.Name(), MonitorSerial: e.Serial(), ASCII: e.ASCII(),
		W: e.WidthCM, H: e.HeightCM, PW: e.Preferred.Width, PH: e.Preferred.Height, Hz: e.Preferred.RefreshHz(),
		Ext: e.Extensions, Blocks: e.Blocks, Bad: e.BadBlocks, Digital: e.Digital, HeaderValid: e.HeaderValid,
	}
}

// TestParseKVM checks the EDIDs that IP-KVM projects publish against the
// values the indicator catalogue decoded from them by hand.
func TestParseKVM(t *testing.T) {
	tests := []struct {
		file string
		want got
	}{
		{"pikvm/v4plus.hex", got{Mfg: "LNX", Product: 0x7773, Serial: 0x01010101, Week: 35, Year: 2016, Name: "PiKVM V4 Plus", MonitorSerial: "CAFEBABE",
			W: 53, H: 30, PW: 1920, PH: 1080, Hz: 60, Ext: 1, Blocks: 2, Digital: true, HeaderValid: true}},
		{"pikvm/v0.hex", got{Mfg: "LNX", Product: 0x7770, Serial: 0x01010101, Week: 35, Year: 2016, Name: "PiKVM", MonitorSerial: "CAFEBABE",
			W: 53, H: 30, PW: 1280, PH: 720, Hz: 60, Ext: 1, Blocks: 2, Digital: true, HeaderValid: true}},
		{"tinypilot/edid_pi4.hex", got{Mfg: "TSB", Product: 0x9876, Serial: 0x88888800, Week: 45, Year: 2020, Name: "TinyPilot",
			PW: 1920, PH: 1080, Hz: 30, Ext: 1, Blocks: 2, Digital: true, HeaderValid: true}},
		{"jetkvm/jetkvm_default_T749-fHD720.hex", got{Mfg: "TSB", Product: 0x8801, Serial: 0x88888800, Week: 28, Year: 2011, Name: "T749-fHD720",
			PW: 1920, PH: 1080, Hz: 60, Ext: 1, Blocks: 1, Digital: true, HeaderValid: true}},
		{"nanokvm/E21_NanoKVM.bin", got{Mfg: "SPD", Product: 0x3301, Serial: 0x15, Week: 30, Year: 2025, Name: "NanoKVM", MonitorSerial: "NanoKVM",
			W: 48, H: 27, PW: 1920, PH: 1080, Hz: 60, Ext: 1, Blocks: 2, Digital: true, HeaderValid: true}},
		{"nanokvm/kvm_vision_NanoKVM_edit_PHL342E2.hex", got{Mfg: "PHL", Product: 0xc233, Serial: 0xba66, Week: 43, Year: 2021, Name: "PHL 342E2", MonitorSerial: "UK02143047718",
			W: 80, H: 34, PW: 2560, PH: 1080, Hz: 60, Ext: 1, Blocks: 1, Digital: true, HeaderValid: true}},
		{"blikvm/edid.txt", got{Mfg: "TSB", Product: 0x8888, Serial: 0x88888800, Week: 28, Year: 2011, Name: "Toshiba-H2C",
			PW: 1280, PH: 720, Hz: 60, Ext: 1, Blocks: 2, Bad: 2, Digital: true, HeaderValid: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			e, err := Parse(readCorpusFile(t, filepath.Join(corpus, "edid_kvm", tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(e)); d != "" {
				t.Errorf("parse (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseManifests checks the parser against edid-decode, whose output
// linuxhw published beside each EDID: the manifests hold its manufacturer,
// model, product name, image size and "made" line.
func TestParseManifests(t *testing.T) {
	for _, m := range []string{"edid_monitors/manifest.csv", "edid_suspect/manifest.csv", "edid_suspect/manifest_structural.csv"} {
		for _, r := range readManifest(t, filepath.Join(corpus, m)) {
			t.Run(r["file"], func(t *testing.T) {
				b, err := DecodeHex(r["edid_hex"])
				if err != nil {
					t.Fatal(err)
				}
				e, err := Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.Manufacturer(); got != r["manufacturer"] {
					t.Errorf("manufacturer %q, edid-decode %q", got, r["manufacturer"])
				}
				if got := fmt.Sprint(e.Product); got != r["model"] {
					t.Errorf("product %s, edid-decode %s", got, r["model"])
				}
				// edid-decode shows 13 characters of the name, some cut.
				if want := strings.TrimSpace(r["product_name"]); want != "" && !strings.HasPrefix(e.Name(), want) {
					t.Errorf("name %q, edid-decode %q", e.Name(), want)
				}
				size := "variable"
				if e.WidthCM != 0 {
					size = fmt.Sprintf("%d cm x %d cm", e.WidthCM, e.HeightCM)
				}
				if size != r["image_size"] {
					t.Errorf("size %q, edid-decode %q", size, r["image_size"])
				}
				made := fmt.Sprint(e.Year)
				if e.Week != 0 {
					made = fmt.Sprintf("week %d of %d", e.Week, e.Year)
				}
				if made != r["made"] {
					t.Errorf("made %q, edid-decode %q", made, r["made"])
				}
				if want := r["checksum_ok"] == "True"; e.ChecksumValid() != want {
					t.Errorf("checksum valid %v, manifest %v", e.ChecksumValid(), want)
				}
				if want := r["edid_bytes"]; fmt.Sprint(e.Blocks*BlockSize) != want {
					t.Errorf("blocks %d, manifest %s bytes", e.Blocks, want)
				}
			})
		}
	}
}

func readManifest(t testing.TB, p string) []map[string]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, k := range recs[0] {
			m[k] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

func TestParseEdges(t *testing.T) {
	base := func() []byte {
		b := make([]byte, BlockSize)
		copy(b, header[:])
		return b
	}
	fix := func(b []byte) []byte { // set the checksums
		for i := 0; i+BlockSize <= len(b); i += BlockSize {
			var s byte
			for _, c := range b[i : i+BlockSize-1] {
				s += c
			}
			b[i+BlockSize-1] = -s
		}
		return b
	}
	tests := []struct {
		name string
		in   func() []byte
		want got
		err  error
	}{
		{"short", func() []byte { return make([]byte, 127) }, got{}, ErrShort},
		{"all zero", func() []byte { return make([]byte, 128) }, got{Mfg: "@@@", Year: 1990, Blocks: 1}, nil},
		{"model year and bad checksum", func() []byte {
			b := base()
			b[16], b[17], b[127] = 0xff, 30, 1
			return b
		}, got{Mfg: "@@@", ModelYear: true, Year: 2020, Blocks: 1, Bad: 1, HeaderValid: true}, nil},
		{"truncated extensions", func() []byte {
			b := base()
			b[126] = 3
			return fix(append(b, make([]byte, 200)...))
		}, got{Mfg: "@@@", Year: 1990, Ext: 3, Blocks: 2, Bad: 0, HeaderValid: true}, nil},
		{"control characters in a name, two name descriptors", func() []byte {
			b := base()
			copy(b[54:], []byte{0, 0, 0, TagName, 0, 'A', 'B', 0x01, 0xc3, 'C', 0x0a, ' ', ' ', ' ', ' ', ' ', ' ', ' '})
			copy(b[72:], []byte{0, 0, 0, TagName, 0, '-', '2', ' ', ' ', 0x0a, ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '})
			copy(b[90:], []byte{0, 0, 0, TagASCII, 0, 'x', 'y', 0x0a, ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '})
			return fix(b)
		}, got{Mfg: "@@@", Year: 1990, Name: "AB??C-2", ASCII: []string{"xy"}, Blocks: 1, HeaderValid: true}, nil},
		{"interlaced 1080i", func() []byte {
			b := base()
			// 1920x1080i, 74.25 MHz, htotal 2200, vtotal 562.5 per field: 60 fields
			copy(b[54:], []byte{0x01, 0x1d, 0x80, 0x18, 0x71, 0x1c, 0x16, 0x20, 0x58, 0x2c, 0x25, 0x00, 0xc4, 0x8e, 0x21, 0x00, 0x00, 0x9e})
			return fix(b)
		}, got{Mfg: "@@@", Year: 1990, PW: 1920, PH: 1080, Hz: 60, Blocks: 1, HeaderValid: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.in())
			if err != tt.err {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if d := cmp.Diff(tt.want, summary(e)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeHex(t *testing.T) {
	for in, want := range map[string]string{
		"00 FF\nff\r\n0x12, 0x34": "\x00\xff\xff\x12\x34",
		"":                        "",
	} {
		b, err := DecodeHex(in)
		if err != nil || string(b) != want {
			t.Errorf("DecodeHex(%q) = %x, %v; want %x", in, b, err, want)
		}
	}
	if _, err := DecodeHex("0g"); err == nil {
		t.Error("DecodeHex(0g): no error")
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"edid_kvm/pikvm/v4plus.hex", "edid_kvm/tinypilot/edid_pi4.hex", "edid_kvm/nanokvm/E21_NanoKVM.bin", "edid_kvm/blikvm/edid.txt"} {
		f.Add(readCorpusFile(f, filepath.Join(corpus, p)))
	}
	f.Add(make([]byte, 128))
	// A parse into a used EDID must leave nothing of the one before.
	var prev EDID
	if err := ParseInto(readCorpusFile(f, filepath.Join(corpus, "edid_kvm/pikvm/v4plus.hex")), &prev); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if len(b) >= BlockSize {
				t.Fatalf("error on %d bytes: %v", len(b), err)
			}
			return
		}
		again := prev
		if err := ParseInto(b, &again); err != nil || !reflect.DeepEqual(e, again) {
			t.Fatalf("parsing the same bytes twice differs:\n%+v\n%+v", e, again)
		}
		if e.Blocks < 1 || e.Blocks > 1+e.Extensions || e.BadBlocks > e.Blocks {
			t.Fatalf("blocks %d bad %d ext %d", e.Blocks, e.BadBlocks, e.Extensions)
		}
		bad := 0
		for i := 0; i < e.Blocks; i++ {
			var s byte
			for _, c := range b[i*BlockSize : (i+1)*BlockSize] {
				s += c
			}
			if s != 0 {
				bad++
			}
		}
		var base byte
		for _, c := range b[:BlockSize] {
			base += c
		}
		if e.BaseBad != (base != 0) {
			t.Fatalf("base bad %v, sum %d", e.BaseBad, base)
		}
		if bad != e.BadBlocks || e.ChecksumValid() != (bad == 0) {
			t.Fatalf("bad blocks %d (checksum valid %v), a plain sum says %d", e.BadBlocks, e.ChecksumValid(), bad)
		}
		// Each field within the range of what stores it.
		switch {
		case e.HeaderValid != bytes.Equal(b[:8], header[:]):
			t.Fatalf("header valid %v for % x", e.HeaderValid, b[:8])
		case e.Product != uint16(b[10])|uint16(b[11])<<8:
			t.Fatalf("product %#x", e.Product)
		case e.Week < 0 || e.Week > 254 || e.ModelYear && e.Week != 0:
			t.Fatalf("week %d, model year %v", e.Week, e.ModelYear)
		case e.Year < 1990 || e.Year > 1990+255:
			t.Fatalf("year %d", e.Year)
		case e.Version < 0 || e.Version > 255 || e.Revision < 0 || e.Revision > 255:
			t.Fatalf("version %d.%d", e.Version, e.Revision)
		case e.WidthCM < 0 || e.WidthCM > 255 || e.HeightCM < 0 || e.HeightCM > 255 || (e.WidthCM == 0) != (e.HeightCM == 0):
			t.Fatalf("size %dx%d cm", e.WidthCM, e.HeightCM)
		case e.Extensions < 0 || e.Extensions > 255 || e.Extensions != int(b[126]):
			t.Fatalf("extensions %d", e.Extensions)
		case e.Preferred.Width < 0 || e.Preferred.Width > 4095 || e.Preferred.Height < 0 || e.Preferred.Height > 2*4095:
			t.Fatalf("preferred %dx%d", e.Preferred.Width, e.Preferred.Height)
		case e.Preferred.PixelClockKHz < 0 || e.Preferred.PixelClockKHz > 655350 || e.Preferred.RefreshMilliHz < 0:
			t.Fatalf("preferred timing %+v", e.Preferred)
		}
		// The features: bounded by what holds them, and absent without
		// the block that would hold them.
		ctaBlocks, didBlocks := 0, 0
		for i := 1; i < e.Blocks; i++ {
			switch b[i*BlockSize] {
			case 0x02:
				ctaBlocks++
			case 0x70:
				didBlocks++
			}
		}
		switch f := e.Features; {
		case f.EstablishedTimings < 0 || f.EstablishedTimings > 24 || f.StandardTimings < 0 || f.StandardTimings > 8:
			t.Fatalf("established %d standard %d", f.EstablishedTimings, f.StandardTimings)
		case f.DetailedTimings < 0 || f.DetailedTimings > 4 || (f.DetailedTimings == 0 && e.Preferred.Width > 0 && e.Extensions == 0):
			t.Fatalf("detailed %d, preferred %+v", f.DetailedTimings, e.Preferred)
		case f.CTA != (ctaBlocks > 0) || f.DisplayID != (didBlocks > 0):
			t.Fatalf("cta %v (%d blocks) displayid %v (%d blocks)", f.CTA, ctaBlocks, f.DisplayID, didBlocks)
		case !f.CTA && (f.CTAAudio || f.CTAVICs > 0 || f.HDMI || f.HDMIForum || f.HDR):
			t.Fatalf("cta features without a cta block: %+v", f)
		case f.CTAVICs < 0 || f.CTAVICs > 124*ctaBlocks:
			t.Fatalf("%d vics in %d blocks", f.CTAVICs, ctaBlocks)
		case f.Interface != "" && (!e.Digital || e.Version != 1 || e.Revision < 4):
			t.Fatalf("interface %q on version %d.%d digital %v", f.Interface, e.Version, e.Revision, e.Digital)
		}
		for _, c := range e.Mfg {
			if c < '@' || c > '_' {
				t.Fatalf("manufacturer %q", e.Mfg)
			}
		}
		if n := len(e.Name()) + len(e.Serial()); n > 4*13 {
			t.Fatalf("%d bytes of text from four descriptors", n)
		}
		if as := e.ASCII(); len(as) > 4 {
			t.Fatalf("%d text descriptors", len(as))
		}
		for _, s := range append(e.ASCII(), e.Name(), e.Serial(), e.Manufacturer()) {
			if len(s) > 4*13 {
				t.Fatalf("text %q longer than its descriptors", s)
			}
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] > 0x7e {
					t.Fatalf("unprintable byte in %q", s)
				}
			}
		}
	})
}

func FuzzDecodeHex(f *testing.F) {
	f.Add("00ffffffffffff00 0x12,0x34\n")
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := DecodeHex(s); err == nil && len(b) > len(s)/2 {
			t.Fatalf("%d bytes from %d characters", len(b), len(s))
		}
		// Any bytes, written as tools write them, come back.
		b := []byte(s)
		var spaced, prefixed []string
		for _, c := range b {
			spaced = append(spaced, fmt.Sprintf("%02X", c))
			prefixed = append(prefixed, fmt.Sprintf("0x%02x", c))
		}
		for _, form := range []string{hex.EncodeToString(b), strings.Join(spaced, " "), strings.Join(prefixed, ",\r\n")} {
			got, err := DecodeHex(form)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("DecodeHex(%q) = %x, %v; want %x", form, got, err, b)
			}
		}
	})
}

// BenchmarkParse parses the PiKVM V4 Plus EDID (two blocks): the goal is a
// million EDIDs a second on one core, without allocating.
func BenchmarkParse(b *testing.B) {
	raw := readCorpusFile(b, filepath.Join(corpus, "edid_kvm/pikvm/v4plus.hex"))
	var e EDID
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := ParseInto(raw, &e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "edids/s")
}

func TestParseAllocs(t *testing.T) {
	raw := readCorpusFile(t, filepath.Join(corpus, "edid_kvm/pikvm/v4plus.hex"))
	var e EDID
	if n := testing.AllocsPerRun(100, func() { _ = ParseInto(raw, &e) }); n != 0 {
		t.Errorf("ParseInto allocates %v times", n)
	}
}

func TestBlockSum(t *testing.T) {
	b := make([]byte, BlockSize)
	for seed := 0; seed < 200; seed++ {
		var want byte
		for i := range b {
			b[i] = byte(seed*31 + i*i*7 + i>>3)
			if seed%3 == 0 {
				b[i] = 0xff
			}
			want += b[i]
		}
		if got := blockSum(b); got != want {
			t.Fatalf("seed %d: blockSum %d, want %d", seed, got, want)
		}
	}
}

// TestFeatures checks the timings, descriptors and extension blocks read,
// against what an independent decoder (a throwaway script written to the
// CTA-861-H and E-EDID A.2 layouts, not this code) gave for the same files.
func TestFeatures(t *testing.T) {
	manifest := map[string]string{}
	for _, m := range []string{"edid_monitors/manifest.csv"} {
		fh, err := os.Open(filepath.Join(corpus, m))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[1:] {
			manifest[r[0]] = r[len(r)-1]
		}
	}
	for _, c := range []struct {
		file string
		want Features
	}{
		{"edid_kvm/pikvm/v4plus.hex", Features{EstablishedTimings: 12, StandardTimings: 8, DetailedTimings: 1, RangeLimits: true, CTA: true, CTAAudio: true, CTAVICs: 11, HDMI: true}},
		{"edid_kvm/tinypilot/edid_pi4.hex", Features{EstablishedTimings: 15, StandardTimings: 8, DetailedTimings: 2, RangeLimits: true, CTA: true, CTAAudio: true, CTAVICs: 11, HDMI: true}},
		{"edid_kvm/jetkvm/jetkvm_default_T749-fHD720.hex", Features{DetailedTimings: 2, RangeLimits: true}},
		{"laptop_panel/Digital__Sharp__SHP158A__144CFF127426.txt", Features{DetailedTimings: 1, RangeLimits: true, Interface: "dp", DisplayID: true}},
		{"monitor/Digital__Dell__DEL40B8__0E80B2FC6F36.txt", Features{EstablishedTimings: 3, StandardTimings: 6, DetailedTimings: 1, RangeLimits: true, Interface: "dp"}},
		{"monitor/Digital__GIGABYTE__GBT3209__264F5CBE31D6.txt", Features{EstablishedTimings: 17, StandardTimings: 8, DetailedTimings: 1, RangeLimits: true, Interface: "dp", CTA: true, CTAAudio: true, CTAVICs: 11, HDR: true, DisplayID: true}},
	} {
		var raw []byte
		if h, ok := manifest[c.file]; ok {
			var err error
			if raw, err = DecodeHex(h); err != nil {
				t.Fatal(err)
			}
		} else {
			raw = readCorpusFile(t, filepath.Join(corpus, c.file))
		}
		e, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if diff := cmp.Diff(c.want, e.Features); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.file, diff)
		}
	}
}

// TestCTABlocks checks the data block walk on made-up extension blocks,
// including blocks that run past the collection.
func TestCTABlocks(t *testing.T) {
	ext := func(rev, flags byte, blocks ...byte) []byte {
		x := make([]byte, BlockSize)
		x[0], x[1], x[3] = 0x02, rev, flags
		copy(x[4:], blocks)
		x[2] = byte(4 + len(blocks))
		return x
	}
	for _, c := range []struct {
		name string
		x    []byte
		want Features
	}{
		{"hdmi 2 sink", ext(3, 0x40,
			0x43, 0x10, 0x04, 0x03, // video: 3 VICs
			0x23, 0x09, 0x07, 0x07, // audio
			0x65, 0x03, 0x0c, 0x00, 0x10, 0x00, // HDMI VSDB
			0x66, 0xd8, 0x5d, 0xc4, 0x01, 0x78, 0x80, // HF-VSDB
			0xe3, 0x06, 0x0d, 0x01, // HDR static metadata
		), Features{CTA: true, CTAAudio: true, CTAVICs: 3, HDMI: true, HDMIForum: true, HDR: true}},
		{"hf-scdb by extended tag", ext(3, 0, 0xe4, 0x79, 0x01, 0x00, 0x00), Features{CTA: true, HDMIForum: true}},
		{"revision 1 has no data blocks", ext(1, 0x40, 0x43, 0x10, 0x04, 0x03), Features{CTA: true}},
		{"basic audio flag alone", ext(3, 0x40), Features{CTA: true, CTAAudio: true}},
		{"block past the collection", func() []byte { x := ext(3, 0, 0x43, 0x10, 0x04, 0x03, 0x5f); return x }(), Features{CTA: true, CTAVICs: 3}},
		{"offset past the block", func() []byte { x := ext(3, 0, 0x43, 0x10, 0x04, 0x03); x[2] = 200; return x }(), Features{CTA: true}},
	} {
		base := make([]byte, BlockSize)
		copy(base, header[:])
		base[126] = 1
		e, err := Parse(append(base, c.x...))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, e.Features); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}
