package web

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/cache"
)

// DefaultTrustedProxies are the proxies believed when Options.TrustedProxies is nil:
// loopback and the private ranges (the same list as configs.DefaultTrustedProxies).
var DefaultTrustedProxies = mustCIDRs("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")

func mustCIDRs(cidrs ...string) []*net.IPNet {
	out := make([]*net.IPNet, 0, len(cidrs))
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err)
		}
		out = append(out, n)
	}
	return out
}

// IPExtractor returns the client address: the right-most X-Forwarded-For entry that is not a
// trusted proxy, read only while every hop to its right (starting with the TCP peer) is one.
// A peer outside trusted sends an X-Forwarded-For that is ignored; its own address is used.
func IPExtractor(trusted []*net.IPNet) echo.IPExtractor {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ClientKey is the subject of per-IP limits for an address: an IPv4 address as it is, an IPv6
// address as its /64 (one subscriber or host gets a whole /64, so its 2^64 addresses are one
// client). An IPv4-mapped IPv6 address counts as its IPv4 address.
func ClientKey(ip string) string {
	addr := net.ParseIP(ip)
	if addr == nil {
		return ip
	}
	if v4 := addr.To4(); v4 != nil {
		return v4.String()
	}
	return addr.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// ByIP counts per client: its IPv4 address or IPv6 /64 (ClientKey of the real IP).
func ByIP(c echo.Context) string { return ClientKey(c.RealIP()) }

// FailureLimit counts only failed attempts per subject (a login's lower-cased e-mail):
// Check before the attempt refuses once Limit failures fall in Window, Fail records one.
// Successes cost nothing, so the owner of an account is not locked out by their own use.
type FailureLimit struct {
	Limiter cache.Limiter
	Name    string
	Limit   int
	Window  time.Duration
}

// Check answers 429 RATE_LIMITED with Retry-After when key already has Limit failures in
// the window; an empty key or a nil limiter never limits.
func (f FailureLimit) Check(c echo.Context, key string) error {
	if f.Limiter == nil || key == "" {
		return nil
	}
	d := f.Limiter.Peek(c.Request().Context(), f.Name+":"+strings.ToLower(key), f.Limit, f.Window)
	if d.Allowed {
		return nil
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(int((d.RetryAfter+time.Second-1)/time.Second)))
	return apperr.E(apperr.RateLimited, "Too many failed attempts; retry later")
}

// Fail records one failure of key.
func (f FailureLimit) Fail(c echo.Context, key string) {
	if f.Limiter == nil || key == "" {
		return
	}
	f.Limiter.Allow(c.Request().Context(), f.Name+":"+strings.ToLower(key), f.Limit, f.Window)
}
