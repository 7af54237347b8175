package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is the browser the Browser tests drive: Debian's chromium
// (.ci/run installs it when it is absent). They skip only without one, and
// fail then too when FARMWATCH_REQUIRE_CHROMIUM is set (CI sets it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FARMWATCH_REQUIRE_CHROMIUM") != "" {
		t.Fatal("FARMWATCH_REQUIRE_CHROMIUM is set and no chromium is installed")
	}
	t.Skip("no chromium on this machine (apt-get install chromium)")
	return ""
}

// browser is a headless chromium with a folder for its screenshots.
type browser struct {
	t    *testing.T
	ctx  context.Context
	shot string // the screenshots' folder
	n    int
}

func newBrowser(t *testing.T) *browser {
	exe := chromium(t)
	dir, err := os.MkdirTemp("", "farmwatch-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(filepath.Join(dir, "profile")))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA(); os.RemoveAll(filepath.Join(dir, "profile")) })
	return &browser{t: t, ctx: ctx, shot: dir}
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) html() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Fatalf("page source: %v", err)
	}
	return s
}

// screenshot saves the page as NN-name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	p := filepath.Join(b.shot, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Log(err)
	}
}

// waitText waits until sel's text contains want.
func (b *browser) waitText(sel, want string, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			b.screenshot("waited-for-" + want)
			b.t.Fatalf("%s never showed %q (err %v):\n%s", sel, want, err, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// webFleet is a collector with the console and agents replaying captured
// hosts.
func webFleet(t *testing.T, hosts ...string) (f *fleet, url string) {
	f = newFleet(t)
	web := freeAddr(t)
	f.serve("--metrics", "", "--web", web)
	for _, h := range hosts {
		startProc(t, f.agent, f.agentArgs("agent-"+h, "--snapshot", "../testdata/hosts/"+h+".txtar", "--hostname", h)...)
	}
	waitUntil(t, "the agents' first states", 30*time.Second, func() bool {
		out, err := f.cli("hosts")
		var hs []struct {
			Online   bool `json:"online"`
			Findings int  `json:"findings"`
		}
		if err != nil || json.Unmarshal(out, &hs) != nil || len(hs) != len(hosts) {
			return false
		}
		for _, h := range hs {
			if !h.Online || h.Findings == 0 {
				return false
			}
		}
		return true
	}, f.srv)
	return f, "https://" + web
}

func (f *fleet) token(role string) string {
	f.t.Helper()
	out, err := f.cli("token", "create", "--role", role, "--name", "browser-"+role)
	var tok map[string]string
	if err != nil || json.Unmarshal(out, &tok) != nil || tok["token"] == "" {
		f.t.Fatalf("token create: %v %s", err, out)
	}
	return tok["token"]
}

// TestBrowserConsole: a person signs in, sees the hosts, opens the PiKVM
// host and its critical finding, scans it now, acknowledges the finding,
// sees a new host appear live, and signs out; a wrong token is refused
// and shows no fleet data.
func TestBrowserConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries and a browser")
	}
	b := newBrowser(t)
	f, url := webFleet(t, "linux-pikvm-v4plus", "linux-anydesk-rustdesk")
	helpdesk := f.token("helpdesk")

	// A wrong token: refused, and nothing of the fleet is shown.
	b.run("wrong token", chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "not-a-token"), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("message")))
	b.screenshot("wrong-token")
	b.waitText("#message", "not valid", 5*time.Second)
	html := b.html()
	if strings.Contains(html, "linux-pikvm-v4plus") || strings.Contains(html, "/host/") {
		t.Fatalf("a refused sign-in shows fleet data:\n%s", html)
	}

	// Sign in; the hosts are there.
	b.run("sign in", chromedp.SendKeys(chromedp.ID("token"), helpdesk), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("hosts")))
	b.waitText("#hosts", "linux-pikvm-v4plus", 10*time.Second)
	b.waitText("#hosts", "linux-anydesk-rustdesk", 10*time.Second)
	b.screenshot("overview")

	// The PiKVM host and its critical finding, evidence in words.
	b.run("open the PiKVM host", chromedp.Click(chromedp.Search(`//a[text()="linux-pikvm-v4plus"]`)), chromedp.WaitVisible(chromedp.ID("verdict")))
	b.waitText("#verdict", "REMOTE-CONTROLLED? likely", 10*time.Second)
	for _, want := range []string{"CRITICAL", "rule ipkvm-usb-and-display", "USB device 1d6b:0104"} {
		b.waitText("#host-findings", want, 10*time.Second)
	}
	b.screenshot("pikvm-host")

	// Scan now: the live result is shown.
	b.run("scan now", chromedp.Click(chromedp.ID("scan-now")), chromedp.WaitVisible(chromedp.ID("scan-result")))
	b.waitText("#scan-result", "REMOTE-CONTROLLED? likely", 10*time.Second)
	b.waitText("#scan-result", "ipkvm-usb-and-display", 10*time.Second)
	b.screenshot("scan-now")

	// Acknowledge the critical finding with a comment: stored with who and
	// when, it leaves the open count.
	first := `#host-findings li.finding[data-rule="ipkvm-usb-and-display"] form.triage`
	b.run("fill the triage form", chromedp.SetValue(chromedp.CSS(first+` select[name="state"]`), "acknowledged"),
		chromedp.SendKeys(chromedp.CSS(first+` input[name="comment"]`), "ticket 7: lab KVM <b>ok</b>"),
	)
	b.screenshot("triage-form")
	b.run("acknowledge", chromedp.Click(chromedp.CSS(first+` button`)),
		chromedp.WaitVisible(chromedp.CSS(`#host-findings li.finding[data-rule="ipkvm-usb-and-display"] .triaged`)))
	tri := `#host-findings li.finding[data-rule="ipkvm-usb-and-display"] .triaged`
	b.waitText(tri, "acknowledged by browser-helpdesk", 10*time.Second)
	b.waitText(tri, "ticket 7: lab KVM <b>ok</b>", 10*time.Second) // as text: escaped, not markup
	b.screenshot("acknowledged")
	b.run("findings list", chromedp.Navigate(url+"/findings?state=acknowledged"), chromedp.WaitVisible(chromedp.ID("findings")))
	b.waitText("#findings", "linux-pikvm-v4plus", 10*time.Second)
	b.waitText("#findings", "acknowledged by", 10*time.Second)
	b.screenshot("findings-acknowledged")

	b.run("farms page", chromedp.Navigate(url+"/farms"), chromedp.WaitVisible(chromedp.ID("farm-list")))
	b.screenshot("farms")

	// Live: a host that enrols while the overview is open appears on it
	// without a reload.
	b.run("overview", chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("hosts")))
	startProc(t, f.agent, f.agentArgs("agent-late", "--snapshot", "../testdata/hosts/windows-screenconnect-anydesk.txtar", "--hostname", "late-host")...)
	b.waitText("#hosts", "late-host", 30*time.Second)
	b.screenshot("live-new-host")

	// Sign out: the pages are gone.
	b.run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(url+"/findings"), chromedp.WaitVisible(chromedp.ID("token")))
	html = b.html()
	if strings.Contains(html, "linux-pikvm-v4plus") {
		t.Fatal("signed out, the findings page still shows fleet data")
	}
	b.screenshot("signed-out")
}
