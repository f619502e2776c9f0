package channels

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/testtool"
)

// The widget in a real browser (Debian's chromium, driven by chromedp): a shop's page on
// another site (localhost vs the API's 127.0.0.1) with a strict CSP embeds the snippet.
// scripts/setup.sh installs chromium; without it the test skips, or fails where tools
// are required (CI, make test).
//
// Artifacts (screenshots) go to $AXON_ARTIFACTS_DIR or the OS temp dir; with
// AXON_WIDGET_SCREENSHOT=path the README screenshot is written there too.

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := testtool.Find(name, ""); err == nil {
			return p
		}
	}
	_, err := testtool.Find("chromium", "apt-get install -y chromium (scripts/setup.sh does it)")
	testtool.Missing(t, err)
	return ""
}

// hostCSP is the shop page's policy: scripts and requests only from the API, styles only
// from the shop itself, nothing inline.
func hostCSP(api string) string {
	return "default-src 'none'; script-src " + api + "; connect-src " + api + "; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"
}

// hostileCSS is the shop's own stylesheet: rules that would break a widget that is not
// isolated.
const hostileCSS = `* { font-family: serif !important; color: #f00 !important; }
button, textarea, div { display: none !important; background: #ff0 !important; }
body { background: #fafafa; }`

// shopServer serves /?agent=ID: a page that embeds the snippet, as a customer pastes it.
func shopServer(t *testing.T, api string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/shop.css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write([]byte(hostileCSS))
		case "/":
			agent := html.EscapeString(r.URL.Query().Get("agent"))
			w.Header().Set("Content-Security-Policy", hostCSP(api))
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Shop</title><link rel="stylesheet" href="/shop.css"></head>
<body><h1>The Shop</h1><p>Fresh bread every day.</p>
<script src="%s/widget.js" data-agent-id="%s" async></script>
</body></html>`, api, agent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	// Another site than the API's 127.0.0.1: CORS, CORP and the CSP are really exercised.
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// tab is one browser tab with its console and requests recorded.
type tab struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	console  []chromedp.ConsoleMessage
	requests []*network.Request
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	msgs := chromedp.Console(ctx)
	reqs := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	go func() {
		for e, err := range reqs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.requests = append(tb.requests, e.Request)
			tb.mu.Unlock()
		}
	}()
	// CSP violations of any kind are recorded by the page itself (the CDP-injected script
	// is not subject to the page's CSP).
	tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) {
				window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });`,
		})
		return err
	}))
	return tb
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// wait polls a page expression until it is truthy.
func (tb *tab) wait(what, js string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+js+")", chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		dctx, dcancel := context.WithTimeout(tb.ctx, 5*time.Second)
		defer dcancel()
		dom, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`(() => { const h = document.querySelector('axon-chat');
			return h ? h.shadowRoot.querySelector('.panel').outerHTML : document.documentElement.outerHTML; })()`))
		tb.t.Fatalf("waiting for %s (%s): %v\nconsole: %v\nwidget: %s", what, js, err, tb.consoleText(), dom)
	}
}

func (tb *tab) consoleText() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.console {
		out = append(out, m.String())
	}
	return out
}

func (tb *tab) warnings() []string {
	var out []string
	for _, s := range tb.consoleText() {
		if strings.HasPrefix(s, "warning: Axon widget") {
			out = append(out, s)
		}
	}
	return out
}

// clickLauncher clicks the launcher with the mouse, at its centre.
func (tb *tab) clickLauncher() {
	tb.t.Helper()
	xy := eval[[]float64](tb, `(() => { const r = document.querySelector('axon-chat').shadowRoot.querySelector('.launcher').getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	tb.do(chromedp.MouseClickXY(xy[0], xy[1]))
}

// ask types a message into the focused input and presses Enter.
func (tb *tab) ask(text string) {
	tb.t.Helper()
	tb.do(chromedp.KeyEvent(text), chromedp.KeyEvent("\r"))
}

const sr = `document.querySelector('axon-chat').shadowRoot`

func TestWidgetInBrowser(t *testing.T) {
	chrome := findChromium(t)
	se := newSurfEnv(t, surfOptions{ping: 500 * time.Millisecond})
	api := se.Server.URL
	w := se.NewWorkspace("PRO", 100)
	agent := se.newAgent(t, w, map[string]any{"name": "Bakery helper"})
	if res := se.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/agents/" + agent + "/widget", Token: w.Token, Body: map[string]any{
		"primaryColor": "#0f766e", "headerTitle": "Ask the bakery", "greeting": "Hi! Ask me about opening hours or returns.",
		"inputPlaceholder": "Ask about the shop…", "cornerRadius": 14, "theme": "light", "position": "bottom-right", "streaming": true,
	}}); res.Status != 200 {
		t.Fatalf("widget config: %d %s", res.Status, res.Body)
	}
	locked := se.newAgent(t, w, map[string]any{"name": "Locked", "allowedOrigins": []string{"https://shop.example"}})
	shop := shopServer(t, api)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(375, 740),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}

	tb := newTab(t, browser)
	tb.do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(shop+"/?agent="+agent))
	tb.wait("the launcher", `document.querySelector('axon-chat') && `+sr+`.querySelector('.launcher')`)
	tb.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = 1`))

	// Styled from the config, through a constructed stylesheet (no inline style) that the
	// CSP does not block; the shop's hostile CSS does not reach inside.
	style := eval[map[string]string](tb, `(() => { const l = `+sr+`.querySelector('.launcher'), s = getComputedStyle(l);
		return {bg: s.backgroundColor, display: s.display, sheets: String(`+sr+`.adoptedStyleSheets.length)}; })()`)
	if style["bg"] != "rgb(15, 118, 110)" || style["display"] != "flex" || style["sheets"] != "1" {
		t.Fatalf("launcher style %v", style)
	}
	if n := eval[int](tb, `document.querySelectorAll('script').length`); n != 1 {
		t.Fatalf("%d scripts on the page: the widget must add none", n)
	}

	// Open with the mouse: the dialog shows, focus is in the input, the greeting is there.
	tb.clickLauncher()
	tb.wait("the open panel", `!`+sr+`.querySelector('.panel').hidden && `+sr+`.activeElement && `+sr+`.activeElement.id === 'input'`)
	panel := eval[map[string]any](tb, `(() => { const p = `+sr+`.querySelector('.panel'), r = p.getBoundingClientRect();
		return {role: p.getAttribute('role'), label: `+sr+`.getElementById(p.getAttribute('aria-labelledby')).textContent,
			left: r.left, right: r.right, width: r.width, log: `+sr+`.querySelector('.log').getAttribute('aria-live'),
			logRole: `+sr+`.querySelector('.log').getAttribute('role'), greeting: `+sr+`.querySelector('.greeting').textContent,
			placeholder: `+sr+`.getElementById('input').placeholder, inner: window.innerWidth,
			bodyFont: getComputedStyle(`+sr+`.querySelector('.msg')).fontFamily}; })()`)
	if panel["role"] != "dialog" || panel["label"] != "Ask the bakery" || panel["log"] != "polite" || panel["logRole"] != "log" ||
		panel["greeting"] != "Hi! Ask me about opening hours or returns." || panel["placeholder"] != "Ask about the shop…" {
		t.Fatalf("panel %v", panel)
	}
	if panel["inner"].(float64) != 375 || panel["left"].(float64) < 0 || panel["right"].(float64) > 375 || panel["width"].(float64) < 300 {
		t.Fatalf("panel does not fit a 375 px screen: %v", panel)
	}
	if strings.Contains(panel["bodyFont"].(string), "serif") && !strings.Contains(panel["bodyFont"].(string), "sans-serif") {
		t.Fatalf("the shop's CSS leaked into the widget: font %v", panel["bodyFont"])
	}

	// Ask: the answer streams in, word by word, from the agent's knowledge.
	tb.do(chromedp.Evaluate[chromedp.Void](`window.__seen = []; new MutationObserver(rs => { for (const r of rs) for (const n of r.addedNodes)
		if (n.nodeType === 3 && r.target.closest && r.target.closest('.msg.bot:not(.greeting)')) window.__seen.push(n.data); })
		.observe(` + sr + `.querySelector('.log'), {subtree: true, childList: true, characterData: true})`))
	tb.ask("When is the shop open?")
	answered := `[...` + sr + `.querySelectorAll('.msg.bot:not(.greeting)')].some(m => m.dataset.id && !m.hasAttribute('aria-busy'))`
	tb.wait("the answer", answered)
	answer := eval[string](tb, `[...`+sr+`.querySelectorAll('.msg.bot:not(.greeting)')].pop().textContent`)
	if !strings.Contains(answer, "9 am to 6 pm") {
		t.Fatalf("answer %q does not carry the knowledge", answer)
	}
	seen := eval[[]string](tb, `window.__seen`)
	if len(seen) < 3 || !strings.HasPrefix(answer, seen[0]) || len(seen[0]) >= len(answer) {
		t.Fatalf("the answer did not stream in (texts seen: %q)", seen)
	}

	// Reload: the session (24 h in localStorage) shows the history.
	tb.do(chromedp.Reload())
	tb.wait("the launcher after reload", `document.querySelector('axon-chat') && `+sr+`.querySelector('.launcher')`)
	tb.clickLauncher()
	tb.wait("the history", `[...`+sr+`.querySelectorAll('.msg.user')].some(m => m.textContent === 'When is the shop open?') &&
		[...`+sr+`.querySelectorAll('.msg.bot')].some(m => m.textContent.includes('9 am to 6 pm'))`)
	tb.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = 1`))

	// XSS: a message is text, never HTML.
	payload := `<img src=x onerror=window.__xss=1>`
	tb.wait("the input focused", sr+`.activeElement && `+sr+`.activeElement.id === 'input'`)
	tb.ask(payload)
	tb.wait("the reply to the payload", `[...`+sr+`.querySelectorAll('.msg.user')].some(m => m.textContent === `+jsString(payload)+` && m.dataset.id) &&
		[...`+sr+`.querySelectorAll('.msg.bot:not(.greeting)')].filter(m => m.dataset.id).length >= 2`)

	// A person: the handoff notice, then a human reply through the API, live.
	if res := se.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/agents/" + agent, Token: w.Token, Body: map[string]any{"handoffEnabled": true}}); res.Status != 200 {
		t.Fatalf("enable handoff: %d %s", res.Status, res.Body)
	}
	tb.ask("Can I talk to a person?")
	tb.wait("the handoff notice", sr+`.querySelector('.notice.handoff')`)
	var conv string
	if err := se.DB.GetContext(context.Background(), &conv, `SELECT id FROM conversations WHERE agent_id = $1 AND status = 'HANDED_OFF'`, agent); err != nil {
		t.Fatalf("handed-off conversation: %v", err)
	}
	human := "Hi, this is Sam from the bakery. " + `<img src=x onerror=window.__xss=2>`
	if res := se.Post("/v1/conversations/"+conv+"/messages", w.Token, map[string]any{"content": human}); res.Status != http.StatusCreated {
		t.Fatalf("human reply: %d %s", res.Status, res.Body)
	}
	tb.wait("the human reply", `[...`+sr+`.querySelectorAll('.msg.human .text')].some(m => m.textContent === `+jsString(human)+`)`)
	if eval[int](tb, `window.__sameDocument || 0`) != 1 {
		t.Fatal("the page was reloaded")
	}
	if x := eval[string](tb, `String(window.__xss)`); x != "undefined" {
		t.Fatalf("window.__xss = %s: a message ran as HTML", x)
	}
	if n := eval[int](tb, sr+`.querySelectorAll('img').length + document.querySelectorAll('img').length`); n != 0 {
		t.Fatalf("%d img elements were created from messages", n)
	}

	screenshot(t, tb, "widget-375.png", false)

	// Escape closes the dialog and gives focus back to the launcher.
	tb.do(chromedp.KeyEvent("\x1b"))
	tb.wait("closed by Escape", sr+`.querySelector('.panel').hidden && `+sr+`.activeElement && `+sr+`.activeElement.classList.contains('launcher')`)

	// The token: only in the Authorization header of the widget's own requests to the API.
	token := eval[string](tb, `JSON.parse(localStorage.getItem('axon-widget:`+agent+`')).token`)
	if token == "" {
		t.Fatal("no stored session")
	}
	if eval[bool](tb, `Object.keys(window).some(k => { try { return String(window[k]).includes(`+jsString(token)+`); } catch (e) { return false; } })`) {
		t.Fatal("the session token is on window")
	}
	tb.mu.Lock()
	var authed int
	for _, r := range tb.requests {
		if strings.Contains(r.URL, token) {
			t.Errorf("token in a URL: %s", r.URL)
		}
		for k, v := range r.Headers {
			if strings.Contains(fmt.Sprint(v), token) {
				if !strings.EqualFold(k, "Authorization") || !strings.HasPrefix(r.URL, api+"/v1/widget/"+agent+"/") {
					t.Errorf("token in header %s of %s", k, r.URL)
				}
				authed++
			}
		}
	}
	tb.mu.Unlock()
	if authed == 0 {
		t.Error("no request carried the token (the check above saw nothing)")
	}
	if v := eval[[]string](tb, `window.__csp`); len(v) != 0 {
		t.Fatalf("CSP violations: %v", v)
	}
	for _, m := range tb.consoleText() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("console: %s", m)
		}
	}

	// Bad input: an unknown agent shows nothing and warns once.
	unknown := newTab(t, browser)
	unknown.do(chromedp.Navigate(shop + "/?agent=0190b0a0-0000-7000-8000-0000000000ff"))
	waitFor(t, "one console warning for an unknown agent", func() bool { return len(unknown.warnings()) > 0 })
	if n := eval[int](unknown, `document.querySelectorAll('axon-chat').length`); n != 0 || len(unknown.warnings()) != 1 {
		t.Fatalf("unknown agent: %d widgets, warnings %v", n, unknown.warnings())
	}

	// An origin outside allowedOrigins: refused by CORS, the widget stays hidden.
	refused := newTab(t, browser)
	refused.do(chromedp.Navigate(shop + "/?agent=" + locked))
	waitFor(t, "the warning for a refused origin", func() bool { return len(refused.warnings()) > 0 })
	if n := eval[int](refused, `document.querySelectorAll('axon-chat').length`); n != 0 || len(refused.warnings()) != 1 {
		t.Fatalf("refused origin: %d widgets, warnings %v", n, refused.warnings())
	}

	// The demo page (same origin as the API, style-src 'none'): the widget works there too.
	se.mod.surf.WidgetDemo = true
	demo := newTab(t, browser)
	demo.do(chromedp.EmulateViewport(900, 720), chromedp.Navigate(api+"/widget/demo/"+agent))
	demo.wait("the demo launcher", `document.querySelector('axon-chat') && `+sr+`.querySelector('.launcher')`)
	demo.clickLauncher()
	demo.wait("the demo history", `[...`+sr+`.querySelectorAll('.msg.bot')].some(m => m.textContent.includes('9 am to 6 pm')) || `+sr+`.querySelector('.log').children.length > 0`)
	demo.ask("Do you accept returns?")
	demo.wait("the demo answer", `[...`+sr+`.querySelectorAll('.msg.bot:not(.greeting)')].some(m => m.textContent.includes('30 days') && !m.hasAttribute('aria-busy'))`)
	if bg := eval[string](demo, `getComputedStyle(`+sr+`.querySelector('.launcher')).backgroundColor`); bg != "rgb(15, 118, 110)" {
		t.Fatalf("demo launcher %s: the constructed stylesheet was blocked by style-src 'none'?", bg)
	}
	if v := eval[[]string](demo, `window.__csp`); len(v) != 0 {
		t.Fatalf("demo CSP violations: %v", v)
	}
	screenshot(t, demo, "widget-demo.png", true)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// screenshot saves the widget's corner (panel and launcher) as a test artifact; readme
// also writes it to $AXON_WIDGET_SCREENSHOT when set (docs/widget.png).
func screenshot(t *testing.T, tb *tab, name string, readme bool) {
	t.Helper()
	r := eval[[]float64](tb, `(() => { const p = `+sr+`.querySelector('.panel').getBoundingClientRect(),
		l = `+sr+`.querySelector('.launcher').getBoundingClientRect();
		const x = Math.max(0, Math.min(p.left, l.left) - 16), y = Math.max(0, Math.min(p.top, l.top) - 16);
		return [x, y, Math.min(window.innerWidth, Math.max(p.right, l.right) + 16) - x, Math.min(window.innerHeight, Math.max(p.bottom, l.bottom) + 16) - y]; })()`)
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		res, err := cdp.Call(ctx, tg, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng, Clip: &page.Viewport{X: r[0], Y: r[1], Width: r[2], Height: r[3], Scale: 1},
		})
		return res.Data, err
	})
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("AXON_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "axon-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
	if p := os.Getenv("AXON_WIDGET_SCREENSHOT"); readme && p != "" {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
