package main

// The OpenAPI test lives here, not in platform/cli: it needs every module, and only this
// package may know them all (platform/ must not import modules/). It builds the server with
// main.go's own modules function, so the route table it checks is production's.

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/web"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type operation struct {
	OperationID string   `json:"operationId"`
	Tags        []string `json:"tags"`
	Security    *[]any   `json:"security"`
}

var (
	echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	httpVerbs = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}
)

// openAPIPath turns an echo route path into its OpenAPI form: ":id" → "{id}" and the
// trailing wildcard of the local upload route → "{key}".
func openAPIPath(p string) string {
	p = echoParam.ReplaceAllString(p, "{$1}")
	if strings.HasSuffix(p, "*") {
		p = strings.TrimSuffix(p, "*") + "{key}"
	}
	return p
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(web.OpenAPISpec, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}

	documented := map[string]bool{}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !httpVerbs[method] {
				continue // parameters, summary, … of the path item
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if op.OperationID == "" || len(op.Tags) == 0 || op.Security == nil {
				t.Errorf("%s: needs operationId, tags and security (empty list when public)", key)
			}
			if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %q is used by %s and %s", op.OperationID, prev, key)
			}
			ids[op.OperationID] = key
		}
	}

	// Every optional route on: local storage (no S3_BUCKET) mounts PUT /v1/storage/local/*,
	// and ADMIN_USER/ADMIN_PASSWORD plus metrics mount /metrics, as in production. External
	// services are off, so nothing leaves the process.
	env := apitest.New(t, apitest.Options{Config: map[string]string{
		"ADMIN_USER": "admin", "ADMIN_PASSWORD": "secret-for-test", "LOCAL_STORAGE_DIR": t.TempDir(),
		"S3_BUCKET": "", "BACKUP_CRON": "", "OPENAI_API_KEY": "", "RESEND_API_KEY": "", "STRIPE_SECRET_KEY": "",
	}}, func(d *kernel.Deps) ([]kernel.Module, error) { return modules(context.Background(), d) })
	d := *env.Deps
	d.Metrics = observe.NewMetrics(nil, "axon-test")
	e := cli.BuildHTTP(&d, env.Registry, nil, time.Now())

	registered := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || strings.HasPrefix(r.Path, "/admin/queues") {
			continue // echo's group catch-alls; River UI is not part of the API
		}
		registered[r.Method+" "+openAPIPath(r.Path)] = true
	}
	var missing, stale []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, k := range missing {
		t.Errorf("route %s is registered but not in platform/web/openapi.json", k)
	}
	for _, k := range stale {
		t.Errorf("openapi.json describes %s, which no route serves", k)
	}
	if len(registered) < 40 {
		t.Errorf("only %d routes registered; are the modules mounted?", len(registered))
	}

	// Served through the real stack.
	res := env.Get("/openapi.json", "")
	if res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json = %d %q", res.Status, res.Header.Get("Content-Type"))
	}
	if string(res.Body) != string(web.OpenAPISpec) {
		t.Error("GET /openapi.json does not serve the embedded document")
	}
	res = env.Get("/docs", "")
	if res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %q", res.Status, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(res.Body), `spec-url="/openapi.json"`) {
		t.Errorf("/docs does not load /openapi.json: %s", res.Body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src https://cdn.jsdelivr.net") {
		t.Errorf("/docs CSP = %q, want it to allow the Redoc script", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("/docs lost the other security headers")
	}
}
