package main

// Rate-limit evasion in the security suite, through the whole application with the real
// limits (SPEC §3) and the process's own limiter (each test its own, so tests do not share
// budgets). The client address is echo's IPExtractor (platform/web/clientip.go): the TCP
// peer, or, only when the peer is in TRUSTED_PROXIES (default loopback and the private
// ranges), the right-most X-Forwarded-For entry that is not a trusted proxy. X-Real-IP and
// Forwarded are never read. The test client connects from 127.0.0.1.
//
// platform/web's clientip tests cover the extractor and the /64 key on a bare echo; auth's
// loginlimit tests cover a /64 and an upper-cased address on the login route. Added here:
// an untrusted peer rotating every forwarding header, a spoofed left-hand X-Forwarded-For
// entry behind a trusted proxy, IPv6 spellings and IPv4-mapped addresses on register, e-mail
// spellings on login and forgot-password, and the per-user limit under rotating addresses.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/axonhq/axon/platform/cache"
)

// limitedApp is the whole app with a fresh in-process limiter.
func limitedApp(t *testing.T, config map[string]string) *secApp {
	t.Helper()
	return newSecApp(t, config, cache.NewMemoryLimiter())
}

func login(app *secApp, email, password string, h map[string]string) *secRes {
	return app.do(secReq{
		Method: http.MethodPost, Path: "/v1/auth/login", Header: h,
		Body: map[string]string{"email": email, "password": password},
	})
}

// expectLimitedAt asserts that attempts 1..n-1 were not limited and attempt n got 429
// RATE_LIMITED with Retry-After.
func expectLimitedAt(t *testing.T, what string, n int, attempt func(i int) *secRes) {
	t.Helper()
	for i := 1; i <= n; i++ {
		res := attempt(i)
		if i < n {
			if res.Status == http.StatusTooManyRequests || res.Status >= 500 || res.Status == 0 {
				t.Fatalf("%s: attempt %d of %d: %d %s", what, i, n, res.Status, res.Body)
			}
			continue
		}
		if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: attempt %d = %d (Retry-After %q), want 429: the limit was evaded: %s",
				what, i, res.Status, res.Header.Get("Retry-After"), res.Body)
		}
		expectErrorShape(t, what, res)
	}
}

// A peer that is not a trusted proxy gets no fresh bucket from any forwarding header.
func TestSecurityForwardingHeadersFromAnUntrustedPeer(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"}) // loopback is not trusted
	expectLimitedAt(t, "login, 10 per 15 min per IP", 11, func(i int) *secRes {
		spoof := fmt.Sprintf("198.51.100.%d", i)
		return login(app, fmt.Sprintf("nobody-%d@example.com", i), "wrong password", map[string]string{
			"X-Forwarded-For": spoof, "X-Real-IP": spoof, "Forwarded": "for=" + spoof, "True-Client-IP": spoof,
			"CF-Connecting-IP": spoof, "X-Client-IP": spoof, "X-Forwarded": "for=" + spoof,
		})
	})
}

// Behind a trusted proxy: a forged X-Real-IP is not read, and a forged left-hand
// X-Forwarded-For entry does not change the client (the right-most untrusted hop).
func TestSecuritySpoofedHeadersBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, nil) // default: loopback is a trusted proxy
	expectLimitedAt(t, "login with a rotating X-Real-IP", 11, func(i int) *secRes {
		return login(app, fmt.Sprintf("nobody-%d@example.com", i), "wrong password",
			map[string]string{"X-Real-IP": fmt.Sprintf("198.51.100.%d", i)})
	})
	expectLimitedAt(t, "login with a rotating left X-Forwarded-For entry", 11, func(i int) *secRes {
		return login(app, fmt.Sprintf("nobody-%d@example.com", i), "wrong password",
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d, 203.0.113.9", i)})
	})
	// The proxy's own view is believed: another client behind it has its own budget.
	if res := login(app, "someone@example.com", "wrong password", map[string]string{"X-Forwarded-For": "203.0.113.10"}); res.Status != http.StatusUnauthorized {
		t.Fatalf("another client behind the proxy: %d %s", res.Status, res.Body)
	}
}

// Register allows 5 an hour per client; an IPv6 client is its /64, whatever the spelling,
// and an IPv4-mapped IPv6 address is its IPv4 address.
func TestSecurityIPv6AndMappedAddressesShareABucket(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, nil)
	register := func(ip string) *secRes {
		return app.do(secReq{
			Method: http.MethodPost, Path: "/v1/auth/register", Header: map[string]string{"X-Forwarded-For": ip},
			Body: map[string]string{"name": "Vee Six", "email": "v6-" + uuid.NewString()[:12] + "@example.com", "password": secPassword},
		})
	}
	spellings := []string{
		"2001:db8:aa:bb::1",
		"2001:0db8:00aa:00bb:0000:0000:0000:0002",
		"2001:DB8:AA:BB:FFFF:FFFF:FFFF:FFFF",
		"2001:db8:aa:bb:1234:5678:9abc:def0",
		"[2001:db8:aa:bb::5]",
		"2001:db8:aa:bb::6",
	}
	expectLimitedAt(t, "register from one /64", len(spellings), func(i int) *secRes { return register(spellings[i-1]) })
	if res := register("2001:db8:aa:bc::1"); res.Status != http.StatusCreated {
		t.Fatalf("the neighbouring /64: %d %s", res.Status, res.Body)
	}
	v4 := []string{"203.0.113.77", "::ffff:203.0.113.77", "::ffff:cb00:714d", "203.0.113.77", "::FFFF:203.0.113.77", "203.0.113.77"}
	expectLimitedAt(t, "register from one IPv4 address, IPv4-mapped spellings included", len(v4), func(i int) *secRes { return register(v4[i-1]) })
}

// Case and white-space variants of one address are one account for the per-account login
// limit (10 failures per 15 min) and for forgot-password's per-address limit (5 an hour),
// each attempt from a fresh client address.
func TestSecurityEmailSpellingsShareTheAccountLimits(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, nil)
	local := "Mixed.Case-" + uuid.NewString()[:8]
	addr := strings.ToLower(local) + "@example.com"
	app.register("Mia Mixed", addr, "192.0.2.1")
	variants := []string{
		addr, strings.ToUpper(addr), " " + addr, addr + " ", "\t" + local + "@EXAMPLE.com\n",
		local + "@Example.Com", "\u00a0" + addr, addr + "\u2003", strings.ToUpper(local) + "@example.com", "  " + strings.ToUpper(addr) + "  ",
	}
	if len(variants) != 10 {
		t.Fatal("need 10 failures")
	}
	for i, v := range variants {
		res := login(app, v, "wrong password", map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1)})
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d (%q): %d %s", i+1, v, res.Status, res.Body)
		}
	}
	// The 11th, with the right password, another spelling and another address: locked.
	res := login(app, " "+strings.ToUpper(local)+"@EXAMPLE.COM ", secPassword, map[string]string{"X-Forwarded-For": "198.51.100.99"})
	if res.Status != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures under 10 spellings: %d %s, want 429", res.Status, res.Body)
	}

	forgot := []string{addr, strings.ToUpper(addr), " " + addr + " ", local + "@EXAMPLE.COM", "\t" + addr, strings.ToUpper(local) + "@example.com"}
	expectLimitedAt(t, "forgot-password per address", len(forgot), func(i int) *secRes {
		return app.do(secReq{
			Method: http.MethodPost, Path: "/v1/auth/forgot-password",
			Header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", 100+i)},
			Body:   map[string]string{"email": forgot[i-1]},
		})
	})
}

// The per-user limit of authenticated routes (120/min) holds whatever address each request
// claims.
func TestSecurityPerUserLimitIgnoresAddresses(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, nil)
	a := app.register("Ursula User", "ursula-"+uuid.NewString()[:8]+"@example.com", "192.0.2.2")
	expectLimitedAt(t, "GET /v1/auth/me, 120/min per user", 121, func(i int) *secRes {
		return app.do(secReq{Path: "/v1/auth/me", Token: a.Access, Header: map[string]string{
			"X-Forwarded-For": fmt.Sprintf("2001:db8:%x::1, 198.51.%d.%d", i, i/250, i%250+1),
		}})
	})
}
