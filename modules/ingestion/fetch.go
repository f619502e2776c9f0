package ingestion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Limits of fetching a URL: 15 s, 5 MB, 5 redirects.
const (
	fetchTimeout   = 15 * time.Second
	fetchMaxBytes  = 5 << 20
	fetchRedirects = 5
	userAgent      = "AxonBot/1.0 (+knowledge ingestion)"
)

// fetcher downloads web pages for URL, SITEMAP and (through the transcript base URL)
// YOUTUBE documents.
//
// Unless private addresses are allowed, it refuses to connect to loopback, private,
// link-local, unspecified, multicast, CGNAT, unique-local and other non-public addresses.
// The check runs in the dialer's Control hook, on the address actually being connected
// to after DNS resolution, so it covers every redirect hop and DNS rebinding (a name that
// resolves to a public address when checked and a private one when used). No proxy is
// used, since a proxy would make the dialled address meaningless.
type fetcher struct {
	client *http.Client
}

// blockedError reports a connection refused by the address policy.
type blockedError struct {
	addr netip.Addr
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("address %s is private, loopback or otherwise not public", e.addr)
}

// newFetcher builds a fetcher. allowPrivate (INGEST_ALLOW_PRIVATE) disables the address
// policy; allowAddrs lists dial addresses ("127.0.0.1:8080") exempt from it, for tests
// that serve pages from httptest servers while still checking every other address.
func newFetcher(allowPrivate bool, allowAddrs []string) *fetcher {
	allowed := map[string]bool{}
	for _, a := range allowAddrs {
		allowed[a] = true
	}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			if allowPrivate || allowed[address] {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &blockedError{}
			}
			if !isPublicAddr(ap.Addr()) {
				return &blockedError{addr: ap.Addr()}
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           20,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  fetchTimeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &fetcher{client: &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > fetchRedirects {
				return permanentf("Too many redirects (more than %d) fetching %s", fetchRedirects, via[0].URL.Redacted())
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return permanentf("%s redirects to a non-HTTP address", via[0].URL.Redacted())
			}
			return nil
		},
	}}
}

// nonPublic lists the ranges refused beyond what netip's predicates cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),       // NAT64: reaches IPv4 addresses, private ones too
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64
	netip.MustParsePrefix("100::/64"),           // discard-only
	netip.MustParsePrefix("2001::/23"),          // IETF protocol assignments (Teredo, …)
	netip.MustParsePrefix("2001:db8::/32"),      // documentation
	netip.MustParsePrefix("2002::/16"),          // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("fec0::/10"),          // deprecated site-local
	netip.MustParsePrefix("::/128"),             // unspecified
	netip.MustParsePrefix("::ffff:0:0/96"),      // IPv4-mapped (checked after Unmap anyway)
	netip.MustParsePrefix("fc00::/7"),           // unique local
	netip.MustParsePrefix("fe80::/10"),          // link-local
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, cloud metadata
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

// isPublicAddr reports whether a is a globally routable unicast address.
func isPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// fetchedPage is a fetched document.
type fetchedPage struct {
	URL         string // after redirects
	ContentType string // media type without parameters
	Body        []byte
}

// get fetches rawURL with GET, following at most fetchRedirects redirects, and returns a
// body of at most fetchMaxBytes. Failures are ingestErrors with a message naming the URL:
// permanent for refused addresses, 4xx answers (but 408 and 429), oversized bodies and
// malformed URLs; transient for timeouts, connection failures, 408, 429 and 5xx.
func (f *fetcher) get(ctx context.Context, rawURL, accept string) (*fetchedPage, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, permanentf("%q is not an http(s) URL", rawURL)
	}
	shown := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, permanentf("%q is not a valid URL", rawURL)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", accept)
	res, err := f.client.Do(req)
	if err != nil {
		var be *blockedError
		if errors.As(err, &be) {
			return nil, permanentf("Refused to fetch %s: %v", shown, be)
		}
		var ie *ingestError
		if errors.As(err, &ie) {
			return nil, ie
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, permanentf("Could not fetch %s: host %s does not exist", shown, u.Hostname())
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, transient(err, "Fetching %s timed out", shown)
		}
		return nil, transient(err, "Could not connect to %s", shown)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusRequestTimeout || res.StatusCode >= 500:
		return nil, transient(nil, "%s answered %s", shown, res.Status)
	default:
		return nil, permanentf("%s answered %s", shown, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, fetchMaxBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, transient(err, "Reading %s failed", shown)
	}
	if len(body) > fetchMaxBytes {
		return nil, permanentf("%s is larger than %d MB", shown, fetchMaxBytes>>20)
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if mt == "" {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	return &fetchedPage{URL: res.Request.URL.String(), ContentType: strings.ToLower(mt), Body: body}, nil
}
