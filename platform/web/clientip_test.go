package web_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
	"github.com/axonhq/axon/platform/web"
)

func TestClientKey(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"203.0.113.7":                        "203.0.113.7",
		"::ffff:203.0.113.7":                 "203.0.113.7",
		"2001:db8:1:2:aaaa:bbbb:cccc:dddd":   "2001:db8:1:2::/64",
		"2001:db8:1:2::1":                    "2001:db8:1:2::/64",
		"2001:db8:1:3::1":                    "2001:db8:1:3::/64",
		"2001:0db8:0001:0002:ffff::ffff:fff": "2001:db8:1:2::/64",
		"not an ip":                          "not an ip",
	}
	for in, want := range cases {
		if got := web.ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultTrustedProxiesMatchConfig(t *testing.T) {
	t.Parallel()
	var got []string
	for _, n := range web.DefaultTrustedProxies {
		got = append(got, n.String())
	}
	if strings.Join(got, ",") != configs.DefaultTrustedProxies {
		t.Errorf("web default %v, configs default %s", got, configs.DefaultTrustedProxies)
	}
}

func TestIPExtractorTrustsOnlyConfiguredProxies(t *testing.T) {
	t.Parallel()
	_, edge, _ := net.ParseCIDR("10.0.0.0/8")
	x := web.IPExtractor([]*net.IPNet{edge})
	req := func(peer, xff string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	cases := []struct{ peer, xff, want string }{
		// A trusted proxy: the right-most untrusted hop is the client (a spoofed left entry
		// is ignored).
		{"10.1.2.3:5000", "198.51.100.1, 2001:db8::7", "2001:db8::7"},
		{"10.1.2.3:5000", "2001:db8::7, 10.9.9.9", "2001:db8::7"},
		// An untrusted peer: its X-Forwarded-For is ignored, loopback included (not configured).
		{"203.0.113.5:5000", "198.51.100.1", "203.0.113.5"},
		{"127.0.0.1:5000", "198.51.100.1", "127.0.0.1"},
		{"[2001:db8::9]:5000", "198.51.100.1", "2001:db8::9"},
	}
	for _, tc := range cases {
		if got := x(req(tc.peer, tc.xff)); got != tc.want {
			t.Errorf("peer %s xff %q: %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
	// Trusting no proxy at all.
	if got := web.IPExtractor(nil)(req("10.1.2.3:1", "198.51.100.1")); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: %q", got)
	}
}

// limitServer serves POST /v1/login behind the global limit and a 10-per-15-minutes per-IP
// limit, with the given trusted proxies (the test client connects from 127.0.0.1).
func limitServer(t *testing.T, trusted []*net.IPNet) string {
	t.Helper()
	lim := cache.NewMemoryLimiter()
	e := web.New(web.Options{Logger: observe.NewLogger(&syncbuf.Buffer{}, observe.LogOptions{}), Limiter: lim, TrustedProxies: trusted})
	e.POST("/v1/login", func(c echo.Context) error { return c.String(http.StatusOK, web.ByIP(c)) },
		web.RateLimit(lim, "login", 10, 15*time.Minute, web.ByIP))
	s := httptest.NewServer(e)
	t.Cleanup(s.Close)
	return s.URL
}

func TestIPv6Slash64SharesOneLimit(t *testing.T) {
	t.Parallel()
	url := limitServer(t, nil) // default: loopback is a trusted proxy
	// 20 addresses of one /64, as a client rotating its interface identifier would use.
	var got []int
	for i := 1; i <= 20; i++ {
		ip := fmt.Sprintf("2001:db8:abcd:12:%x:%x::%x", (i*7919)&0xffff, (i*104729)&0xffff, i)
		r := do(t, "POST", url+"/v1/login", nil, map[string]string{"X-Forwarded-For": ip})
		got = append(got, r.status)
		if r.status == 200 && string(r.body) != "2001:db8:abcd:12::/64" {
			t.Fatalf("key %q for %s", r.body, ip)
		}
	}
	for i, s := range got {
		want := 200
		if i >= 10 {
			want = 429
		}
		if s != want {
			t.Fatalf("statuses %v: attempt %d got %d, want %d", got, i+1, s, want)
		}
	}
	// The neighbouring /64 is another client.
	if r := do(t, "POST", url+"/v1/login", nil, map[string]string{"X-Forwarded-For": "2001:db8:abcd:13::1"}); r.status != 200 {
		t.Fatalf("other /64: %d", r.status)
	}
}

func TestUntrustedPeerForwardedForIgnored(t *testing.T) {
	t.Parallel()
	_, edge, _ := net.ParseCIDR("10.0.0.0/8")
	url := limitServer(t, []*net.IPNet{edge}) // 127.0.0.1 is not a trusted proxy here
	for i := 1; i <= 11; i++ {
		// A new forged address each time: were it believed, no limit would ever trip.
		r := do(t, "POST", url+"/v1/login", nil, map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)})
		if i <= 10 {
			if r.status != 200 || string(r.body) != "127.0.0.1" {
				t.Fatalf("attempt %d: %d %q", i, r.status, r.body)
			}
			continue
		}
		r.expectError(t, 429, "RATE_LIMITED")
	}
}

func TestFailureLimitCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	lim := cache.NewMemoryLimiter()
	f := web.FailureLimit{Limiter: lim, Name: "login-account", Limit: 3, Window: time.Minute}
	e := web.New(web.Options{Logger: observe.NewLogger(&syncbuf.Buffer{}, observe.LogOptions{})})
	e.POST("/v1/try/:who/:ok", func(c echo.Context) error {
		who := c.Param("who")
		if err := f.Check(c, who); err != nil {
			return err
		}
		if c.Param("ok") == "yes" {
			return c.NoContent(http.StatusNoContent)
		}
		f.Fail(c, who)
		return c.NoContent(http.StatusUnauthorized)
	})
	s := httptest.NewServer(e)
	defer s.Close()
	// Successes cost nothing.
	for i := 0; i < 5; i++ {
		if r := do(t, "POST", s.URL+"/v1/try/Alice/yes", nil, nil); r.status != 204 {
			t.Fatalf("success %d: %d", i, r.status)
		}
	}
	for i := 0; i < 3; i++ {
		if r := do(t, "POST", s.URL+"/v1/try/alice/no", nil, nil); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	// Now the account is locked, for a success too, and whatever the case of the key.
	r := do(t, "POST", s.URL+"/v1/try/ALICE/yes", nil, nil)
	r.expectError(t, 429, "RATE_LIMITED")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if r := do(t, "POST", s.URL+"/v1/try/bob/yes", nil, nil); r.status != 204 {
		t.Fatalf("other account: %d", r.status)
	}
}
