package reports

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/tooltest"
	"github.com/aiconform/aiconform/spec"
)

// Environment of TestHTMLInBrowser.
const (
	// demoReportEnv names a report.json to open instead of the fixture;
	// the run's report.html beside it must be its rendering.
	demoReportEnv = "AICONFORM_DEMO_REPORT"
	// artifactsEnv names the folder the page, its screenshots and its PDF
	// are written to; without it they go to a temporary folder.
	artifactsEnv = "AICONFORM_ARTIFACTS"
)

// browserTimeout bounds the whole browser session of the test.
const browserTimeout = 60 * time.Second

// TestHTMLInBrowser opens the HTML report in headless Chromium and checks
// what a reader sees: no console error, no request but the page, every
// level's verdict, every plot laid out, no sideways scrolling on a phone,
// the verdicts in print. It leaves the page, full-page screenshots on a
// desktop and a phone, and the printed PDF in AICONFORM_ARTIFACTS.
func TestHTMLInBrowser(t *testing.T) {
	exe := tooltest.Require(t, "chromium", "chromium is not installed (Debian package chromium), so the HTML report is not opened in a browser")
	rep := fixture(t)
	var err error
	if p := os.Getenv(demoReportEnv); p != "" {
		if rep, err = Read(p); err != nil {
			t.Fatal(err)
		}
	}
	dir := os.Getenv(artifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := HTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv(demoReportEnv); p != "" {
		// The page the run wrote beside its report.json is the one a
		// reader opens: it must be the rendering of that report.
		written, err := os.ReadFile(filepath.Join(filepath.Dir(p), FormatHTML.FileName()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(written, b.Bytes()) {
			t.Fatalf("the report.html beside %s is not the HTML rendering of that report", p)
		}
	}
	pagePath, err := filepath.Abs(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	writeArtifact(t, pagePath, b.Bytes())
	pageURL := (&url.URL{Scheme: "file", Path: pagePath}).String()

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The machine's network is closed: nothing may try to reach it.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	var (
		mu       sync.Mutex
		problems []string // console errors, exceptions, error log entries
		requests []string
	)
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				problems = append(problems, fmt.Sprintf("console.%s called", e.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "uncaught exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, fmt.Sprintf("log entry (%s): %s", e.Entry.Source, e.Entry.Text))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("opening the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(pageURL))

	checkVerdicts(t, bctx, rep, "on screen")
	checkPlots(t, bctx, rep)
	shot := screenshot(t, bctx, "desktop")
	writeArtifact(t, filepath.Join(dir, "report-desktop.png"), shot)

	do("emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	overflow := evaluate[struct {
		ScrollWidth, ClientWidth float64
		Widest                   string
	}](t, bctx, `(() => {
		const d = document.documentElement;
		let widest = "", w = 0;
		for (const e of document.body.querySelectorAll("*")) {
			const r = e.getBoundingClientRect();
			if (r.right > w && !e.closest(".scroll")) { w = r.right; widest = e.tagName + "." + e.className + " " + Math.round(r.right); }
		}
		return {ScrollWidth: d.scrollWidth, ClientWidth: d.clientWidth, Widest: widest};
	})()`)
	if overflow.ClientWidth != 390 {
		t.Errorf("the phone's layout viewport is %g CSS pixels wide, want 390 (the viewport meta)", overflow.ClientWidth)
	}
	if overflow.ScrollWidth > overflow.ClientWidth {
		t.Errorf("on a phone the page scrolls sideways: %g CSS pixels of content in %g (widest element outside a table wrapper: %s)",
			overflow.ScrollWidth, overflow.ClientWidth, overflow.Widest)
	}
	checkVerdicts(t, bctx, rep, "on a phone")
	shot = screenshot(t, bctx, "phone")
	writeArtifact(t, filepath.Join(dir, "report-phone.png"), shot)

	do("emulating print", chromedp.EmulateViewport(1280, 900), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	printed := evaluate[struct {
		Print      bool
		Background string
		Folded     int
		Hidden     []string
	}](t, bctx, `(() => {
		const folded = Array.from(document.querySelectorAll("details:not([open])"));
		const hidden = folded.filter(d => Array.from(d.children).some(c => c.tagName !== "SUMMARY" && c.getBoundingClientRect().height === 0));
		return {
			Print: matchMedia("print").matches,
			Background: getComputedStyle(document.getElementById("verdict")).backgroundColor,
			Folded: folded.length,
			Hidden: hidden.map(d => d.querySelector("summary").innerText),
		};
	})()`)
	if !printed.Print {
		t.Error("print media emulation did not take")
	}
	if printed.Folded == 0 {
		t.Error("the page has no folded section: the print check below would prove nothing")
	}
	for _, h := range printed.Hidden {
		t.Errorf("in print the folded section %q stays folded", h)
	}
	if printed.Background != "rgba(0, 0, 0, 0)" {
		t.Errorf("in print the verdict banner has the background %s, want none", printed.Background)
	}
	checkVerdicts(t, bctx, rep, "in print")
	pdf, err := chromedp.Run(bctx, chromedp.PrintToPDF())
	if err != nil {
		t.Fatalf("printing to PDF: %v", err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Error("the printed page is not a PDF")
	}
	writeArtifact(t, filepath.Join(dir, "report.pdf"), pdf)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("the page logged an error: %s", p)
	}
	for _, u := range requests {
		if u != pageURL {
			t.Errorf("the page requested %s; it must load nothing but itself", u)
		}
	}
}

// checkVerdicts checks that the overall verdict and every level's banner
// show their verdict, and the claim of every requested level.
func checkVerdicts(t *testing.T, ctx context.Context, rep *conformance.Report, where string) {
	t.Helper()
	type banner struct {
		Text    string
		Visible bool
	}
	ids := []string{"verdict"}
	for _, l := range spec.Levels {
		ids = append(ids, "verdict-"+string(l))
	}
	var js strings.Builder
	js.WriteString("({")
	for _, id := range ids {
		fmt.Fprintf(&js, `%q: (e => e ? {Text: e.innerText, Visible: e.getBoundingClientRect().height > 0} : null)(document.getElementById(%q)),`, id, id)
	}
	js.WriteString("})")
	got := evaluate[map[string]*banner](t, ctx, js.String())
	want := map[string][]string{"verdict": {"CONFORMANT"}}
	if !rep.Conformant() {
		want["verdict"] = []string{"NOT CONFORMANT"}
	}
	claims := map[spec.Level]conformance.LevelClaim{}
	for _, c := range rep.Claim {
		claims[c.Level] = c
	}
	for _, l := range spec.Levels {
		w := []string{string(l), verdictText(rep.Levels[l])}
		if c, ok := claims[l]; !ok {
			w = append(w, "not requested")
		} else if c.Claimable {
			w = append(w, "✓ claimable")
		} else {
			w = append(w, "not claimable")
			w = append(w, c.Reasons...)
		}
		want["verdict-"+string(l)] = w
	}
	for _, id := range ids {
		b := got[id]
		if b == nil || !b.Visible {
			t.Errorf("%s: the banner #%s is missing or not shown", where, id)
			continue
		}
		for _, s := range want[id] {
			if !strings.Contains(b.Text, s) {
				t.Errorf("%s: the banner #%s reads %.200q, want it to contain %q", where, id, b.Text, s)
			}
		}
	}
}

// checkPlots checks that the page has every plot of rep, each laid out
// with a width and a height.
func checkPlots(t *testing.T, ctx context.Context, rep *conformance.Report) {
	t.Helper()
	type box struct {
		Title         string
		Width, Height float64
	}
	got := evaluate[[]box](t, ctx, `Array.from(document.querySelectorAll("svg")).map(s => {
		const r = s.getBoundingClientRect();
		const title = s.querySelector("title");
		return {Title: title ? title.textContent : "", Width: r.width, Height: r.height};
	})`)
	want := 0
	models := map[string]bool{}
	for _, c := range rep.Checks {
		for _, ce := range c.Evidence.Cases {
			models[ce.Model+"@"+ce.Version] = true
		}
		for _, p := range c.Evidence.Performance {
			if p.Result != nil {
				want += 2 // percentiles and histogram
			}
		}
	}
	want += len(models)
	if want == 0 {
		t.Fatal("the report has nothing to plot: the test would prove nothing")
	}
	if len(got) != want {
		t.Errorf("the page has %d SVG plots, want %d (one per model version with cases, two per scenario run)", len(got), want)
	}
	for i, b := range got {
		if b.Title == "" || !(b.Width > 0 && b.Height > 0) {
			t.Errorf("plot %d %q is laid out %g × %g, want a title and a non-zero size", i, b.Title, b.Width, b.Height)
		}
	}
}

// evaluate runs a script in the page and decodes its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %.60q…: %v", expr, err)
	}
	return v
}

// screenshot takes a full-page PNG.
func screenshot(t *testing.T, ctx context.Context, what string) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s screenshot: %v", what, err)
	}
	return png
}

// writeArtifact writes a file and logs where.
func writeArtifact(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(data))
}
