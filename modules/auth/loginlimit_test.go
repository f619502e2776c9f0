package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/testkit/apitest"
)

// postFrom sends a login as the client ip behind the test's trusted proxy (loopback).
func (f *fixture) postFrom(t *testing.T, ip string, body any) (int, http.Header) {
	t.Helper()
	r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/login", Body: body, Header: map[string]string{"X-Forwarded-For": ip}})
	return r.Status, r.Header
}

// signUp registers an account from its own address and returns its e-mail.
func (f *fixture) signUp(t *testing.T, prefix, ip string) string {
	t.Helper()
	addr := uniqueEmail(prefix)
	r := f.Do(apitest.Req{
		Method: http.MethodPost, Path: "/v1/auth/register",
		Body:   map[string]string{"name": "Limit Test", "email": addr, "password": password},
		Header: map[string]string{"X-Forwarded-For": ip},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	return addr
}

// Twenty IPv6 addresses of one /64 behind a trusted proxy are one client: the 11th login
// attempt from the /64 gets 429, whatever address it comes from.
func TestLoginLimitKeysIPv6BySlash64(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	var got []int
	for i := 1; i <= 20; i++ {
		ip := fmt.Sprintf("2001:db8:77:%x:%x::%x", 0x10, i*31, i)
		st, _ := f.postFrom(t, ip, map[string]string{"email": uniqueEmail("v6"), "password": "wrong password"})
		got = append(got, st)
	}
	for i, st := range got {
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if st != want {
			t.Fatalf("statuses %v: attempt %d = %d, want %d", got, i+1, st, want)
		}
	}
	// Another /64 has its own budget.
	if st, _ := f.postFrom(t, "2001:db8:77:11::1", map[string]string{"email": uniqueEmail("v6"), "password": "x"}); st != http.StatusUnauthorized {
		t.Fatalf("other /64: %d", st)
	}
}

// Failed logins for one account are limited across client addresses; successes don't count,
// and other accounts are untouched.
func TestLoginFailuresLimitedPerAccount(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	addr := f.signUp(t, "acct", "192.0.2.1")
	for i := 0; i < 3; i++ { // successes cost nothing
		if st, _ := f.postFrom(t, fmt.Sprintf("198.51.100.%d", 200+i), map[string]string{"email": addr, "password": password}); st != http.StatusOK {
			t.Fatalf("good login %d: %d", i, st)
		}
	}
	for i := 1; i <= 10; i++ { // ten failures, each from a fresh address (under every per-IP limit)
		st, _ := f.postFrom(t, fmt.Sprintf("198.51.100.%d", i), map[string]string{"email": addr, "password": "wrong password"})
		if st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	// The account is now locked for 15 minutes, even with the right password, in any case.
	st, h := f.postFrom(t, "198.51.100.50", map[string]string{"email": strings.ToUpper(addr), "password": password})
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d Retry-After %q", st, h.Get("Retry-After"))
	}
	other := f.signUp(t, "acct2", "192.0.2.2")
	if st, _ := f.postFrom(t, "198.51.100.51", map[string]string{"email": other, "password": password}); st != http.StatusOK {
		t.Fatalf("other account: %d", st)
	}
}
