package channels

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/web"
)

// widgetJS is the script a business pastes into its site (widgetjs/widget.js): plain
// JavaScript, no build step. It is served at /widget.js (short cache, ETag) and at
// /widget/<hash>.js (immutable for a year; the hash is of its content).
//
//go:embed widgetjs/widget.js
var widgetJS []byte

var (
	widgetJSHash = func() string {
		sum := sha256.Sum256(widgetJS)
		return hex.EncodeToString(sum[:6])
	}()
	// widgetJSGzip is compressed on first use, not at init: every axon process (backup,
	// migrate, each extract-child) would otherwise pay ~5–30 ms and a 1 MB compressor.
	widgetJSGzip = sync.OnceValue(func() []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(widgetJS)
		_ = zw.Close()
		return b.Bytes()
	})
)

// WidgetJSPath is the versioned, immutable URL path of the widget script.
func WidgetJSPath() string { return "/widget/" + widgetJSHash + ".js" }

// serveWidgetJS writes the script, gzipped when the client accepts it. It may be loaded by
// any site: Cross-Origin-Resource-Policy is cross-origin (the server default, same-site,
// would block it on customers' sites).
func serveWidgetJS(c echo.Context, cacheControl string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/javascript; charset=utf-8")
	h.Set("Cache-Control", cacheControl)
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	etag := `W/"` + widgetJSHash + `"`
	h.Set("ETag", etag)
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(t); t == etag || t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
				return c.NoContent(http.StatusNotModified)
			}
		}
	}
	body := widgetJS
	if acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		body = widgetJSGzip()
	}
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// widgetScript answers GET /widget.js: five minutes of cache, then revalidation by ETag, so
// a new release reaches sites that embed the unversioned URL within minutes.
func widgetScript(c echo.Context) error {
	return serveWidgetJS(c, "public, max-age=300, must-revalidate")
}

// widgetScriptVersioned answers GET /widget/:file for the current <hash>.js only: cached
// for a year, immutable. An old hash is 404 (a page that pinned it should use /widget.js).
func widgetScriptVersioned(c echo.Context) error {
	if c.Param("file") != widgetJSHash+".js" {
		return apperr.NotFoundf("Widget script")
	}
	return serveWidgetJS(c, "public, max-age=31536000, immutable")
}

// widgetDemoCSP is the demo page's policy: as strict as a careful customer's site. Scripts
// and requests only from the API's origin (the page's own), no inline script or style.
const widgetDemoCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'none'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var widgetDemoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Axon widget demo</title>
</head>
<body>
<h1>Axon widget demo</h1>
<p>This page embeds the chat widget the way a customer's site does, under a strict
Content-Security-Policy (no inline script or style). Open the chat with the button in the corner.</p>
<p>The snippet:</p>
<pre><code>{{.Snippet}}</code></pre>
<script src="{{.Src}}" data-agent-id="{{.AgentID}}" async></script>
</body>
</html>
`))

// widgetDemo answers GET /widget/demo/:agentId when the demo is enabled (development and
// test environments): a page that embeds the snippet. Elsewhere it is 404.
func (h *surfaces) widgetDemo(c echo.Context) error {
	if !h.WidgetDemo {
		return apperr.NotFoundf("Page")
	}
	id, err := web.PathUUID(c, "agentId", "Agent")
	if err != nil {
		return err
	}
	origin := c.Scheme() + "://" + c.Request().Host
	src := origin + "/widget.js"
	var b bytes.Buffer
	if err := widgetDemoPage.Execute(&b, map[string]string{
		"Src": src, "AgentID": id,
		"Snippet": `<script src="` + src + `" data-agent-id="` + id + `" async></script>`,
	}); err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("Content-Security-Policy", widgetDemoCSP)
	hd.Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}
