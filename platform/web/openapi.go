package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPISpec is the OpenAPI 3.1 description of every route (platform/web/openapi.json). A test
// in platform/cli compares it with the routes echo registers, so a route added without its
// description (or a description without its route) fails the build.
//
//go:embed openapi.json
var OpenAPISpec []byte

// docsCSP replaces the JSON-only `default-src 'none'` policy on /docs: the page loads Redoc
// from jsDelivr, Redoc injects its styles and runs search in a blob: worker, and it fetches
// the document from this origin.
const docsCSP = "default-src 'none'; script-src https://cdn.jsdelivr.net; style-src 'unsafe-inline'; " +
	"img-src 'self' data: https:; font-src https: data:; connect-src 'self'; worker-src blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const docsHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Axon API</title>
</head>
<body style="margin:0">
<redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2.1.5/bundles/redoc.standalone.js"></script>
</body>
</html>
`

// OpenAPI registers GET /openapi.json (the embedded document) and GET /docs (an HTML page
// that renders it). Both are public.
func OpenAPI(e *echo.Echo) {
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPISpec)
	})
	e.GET("/docs", func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", docsCSP)
		return c.HTML(http.StatusOK, docsHTML)
	})
}
