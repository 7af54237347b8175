package version

import (
	"os/exec"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, deb, rpmV, rpmR, msi string
	}{
		{"v1.2.3", "1.2.3", "1.2.3", "1", "1.2.3"},
		{"1.2.3", "1.2.3", "1.2.3", "1", "1.2.3"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234", "1.2.3", "1.4.gabc1234", "1.2.3"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty", "1.2.3", "1.4.gabc1234.dirty", "1.2.3"},
		{"v1.3.0-rc1", "1.3.0~rc1", "1.3.0~rc1", "1", "1.3.0"},
		{"v1.3.0-rc.2-7-g0123abcd", "1.3.0~rc.2+7.g0123abcd", "1.3.0~rc.2", "1.7.g0123abcd", "1.3.0"},
		{"556dfc0", "0.0.0+g556dfc0", "0.0.0", "1.g556dfc0", "0.0.0"},
		{"556dfc0-dirty", "0.0.0+g556dfc0.dirty", "0.0.0", "1.g556dfc0.dirty", "0.0.0"},
	} {
		v, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		rv, rr := v.RPM()
		if v.Deb() != c.deb || rv != c.rpmV || rr != c.rpmR || v.MSI() != c.msi {
			t.Errorf("%s: deb %s rpm %s-%s msi %s; want %s %s-%s %s", c.in, v.Deb(), rv, rr, v.MSI(), c.deb, c.rpmV, c.rpmR, c.msi)
		}
	}
	for _, bad := range []string{"", "dev", "v1.2", "v1.2.3;rm -rf /", "v256.0.0", "v1.2.3-4-gxyz"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

// TestOrder checks with dpkg itself that a later build sorts after an
// earlier one and a pre-release before its release.
func TestOrder(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed: the order is not checked against it")
	}
	order := []string{"v1.2.3-rc1", "v1.2.3-rc1-2-gaaaa111", "v1.2.3", "v1.2.3-1-gbbbb222", "v1.2.3-10-gcccc333", "v1.2.4"}
	for i := 1; i < len(order); i++ {
		a, _ := Parse(order[i-1])
		b, _ := Parse(order[i])
		if err := exec.Command(dpkg, "--compare-versions", a.Deb(), "lt", b.Deb()).Run(); err != nil {
			t.Errorf("dpkg: %s is not before %s", a.Deb(), b.Deb())
		}
	}
}
