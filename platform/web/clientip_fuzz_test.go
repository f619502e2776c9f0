package web_test

import (
	"net"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/web"
)

// The client address comes from X-Forwarded-For: ClientKey never panics, keys an IPv4 address
// (mapped or not) as itself and an IPv6 address as its /64, so every address of one /64 is
// one client.
func FuzzClientKey(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "2001:db8:1:2:3:4:5:6", "[::1]", "", "not an ip", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ip string) {
		k := web.ClientKey(ip)
		addr := net.ParseIP(ip)
		switch {
		case addr == nil:
			if k != ip {
				t.Fatalf("ClientKey(%q) = %q for a non-address", ip, k)
			}
		case addr.To4() != nil:
			if k != addr.To4().String() {
				t.Fatalf("ClientKey(%q) = %q", ip, k)
			}
		default:
			if !strings.HasSuffix(k, "/64") {
				t.Fatalf("ClientKey(%q) = %q, want a /64", ip, k)
			}
			// Another address of the same /64 has the same key.
			other := make(net.IP, len(addr))
			copy(other, addr)
			other[15] ^= 0xff
			other[8] ^= 0x01
			if web.ClientKey(other.String()) != k && other.To4() == nil {
				t.Fatalf("%s and %s are one /64 but have keys %q and %q", addr, other, k, web.ClientKey(other.String()))
			}
		}
	})
}
