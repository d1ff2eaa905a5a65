package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Selectors of the login pages (login-ui templates).
const (
	selEmployeeID = `input[name="employee_id"]`
	selPassword   = `input[name="password"]`
	selCode       = `input[name="code"]`
	selSubmit     = `button[type="submit"]`
	selAlert      = `[role="alert"]`
	selTOTPSecret = `code.key`
	selRPDone     = `#rp-callback`
)

// chromiumPath finds Debian's chromium; without it the browser tests skip
// loudly, and under CI they fail.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("GONGPAI_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "BROWSER TESTS NOT RUN: chromium not found (apt-get install chromium, or set GONGPAI_TEST_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one fresh chromium process with its own empty profile: no
// cookies shared with any other browser.
type browser struct {
	ctx context.Context

	mu   sync.Mutex
	docs []docResponse // every top-level document the browser received
}

type docResponse struct {
	URL    string
	Status int64
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path := chromiumPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	b := &browser{}
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Type == network.ResourceTypeDocument && e.Response != nil {
			b.mu.Lock()
			b.docs = append(b.docs, docResponse{URL: e.Response.URL, Status: e.Response.Status})
			b.mu.Unlock()
		}
	}))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b.ctx = ctx
	// The first action starts the browser; it must not run under a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// run runs browser steps with a bound on the time they may take.
func (b *browser) run(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		url, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("browser: %v\nat %s\npage text: %s", err, url, body)
	}
}

// resetDocs forgets the documents seen so far.
func (b *browser) resetDocs() {
	b.mu.Lock()
	b.docs = nil
	b.mu.Unlock()
}

// shownPages lists documents that were rendered (status 200) from the
// issuer's origin, i.e. pages the employee saw.
func (b *browser) shownPages(issuer string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var shown []string
	for _, d := range b.docs {
		if strings.HasPrefix(d.URL, issuer) && d.Status == 200 {
			shown = append(shown, d.URL)
		}
	}
	return shown
}

// text waits for sel and returns its trimmed text.
func (b *browser) text(t testing.TB, sel string) string {
	t.Helper()
	b.run(t, chromedp.WaitVisible(chromedp.CSS(sel)))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// attr returns an attribute of the first element matching sel.
func (b *browser) attr(t testing.TB, sel, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("reading %s[%s]: %v", sel, name, err)
	}
	return r.Value
}

// visible waits for sel to be visible.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// clear empties an input, as select-all + delete would.
func clear(sel string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf("(document.querySelector(%q).value = '', true)", sel)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](js)(ctx, t)
		return err
	})
}

// submitAndWait clicks the submit button and waits until the browser has
// a new document, so the next step never reads the page it just left (an
// error re-render looks just like the page before it).
func submitAndWait() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Evaluate[bool]("(window.__gongpaiOld = true, true)")(ctx, t); err != nil {
			return err
		}
		if _, err := chromedp.Click(chromedp.CSS(selSubmit))(ctx, t); err != nil {
			return err
		}
		for {
			// Evaluation fails while the old document is torn down; retry.
			fresh, err := chromedp.Evaluate[bool]("typeof window.__gongpaiOld === 'undefined' && document.readyState !== 'loading'")(ctx, t)
			if err == nil && fresh {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for the page after submit: %w", ctx.Err())
			case <-time.After(30 * time.Millisecond):
			}
		}
	})
}

// submitPassword and submitCode, which also complete a required password
// change, are in password_test.go.
