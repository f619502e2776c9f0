// Package testkit holds the small helpers tests of several packages share: a free TCP port,
// an AWS environment emptied of the developer's settings, a cookie from a response and the
// error-shape assertion. Bigger kits live in its subpackages (pgtest, apitest, fakeopenai…).
package testkit

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// IsolateAWSEnv keeps the developer's AWS configuration (profiles, region, keys, endpoint)
// out of a test. It uses t.Setenv, so the test cannot be parallel.
func IsolateAWSEnv(t *testing.T) {
	t.Helper()
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", missing)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
	for _, v := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// Cookie returns the first cookie called name that the response headers h set (a cleared
// cookie too: its Value is empty, its MaxAge negative); the test fails without one.
func Cookie(t testing.TB, h http.Header, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, h.Values("Set-Cookie"))
	return nil
}

// ExpectError asserts that a response (status got, headers h, body) is the API's error
// shape {"error","message","statusCode","details"?} as JSON with the wanted status and
// code, and returns the decoded body.
func ExpectError(t testing.TB, got int, h http.Header, body []byte, status int, code string) map[string]any {
	t.Helper()
	if got != status {
		t.Fatalf("status = %d, want %d; body %s", got, status, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if m["error"] != code || m["statusCode"] != float64(status) || m["message"] == "" || m["message"] == nil {
		t.Fatalf("error body = %s, want code %s status %d", body, code, status)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error content type %q, want application/json", ct)
	}
	return m
}
