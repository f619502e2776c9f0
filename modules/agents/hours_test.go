package agents

import "testing"

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com":        "https://example.com",
		"HTTPS://Example.COM/":       "https://example.com",
		"http://localhost:5173":      "http://localhost:5173",
		"https://[::1]:8443":         "https://[::1]:8443",
		"https://shop.example.co.uk": "https://shop.example.co.uk",
		"example.com":                "",
		"https://example.com/app":    "",
		"https://example.com?x=1":    "",
		"https://example.com#top":    "",
		"https://user@example.com":   "",
		"https://*.example.com":      "",
		"https://example.com:0":      "",
		"https://example.com:":       "",
		"https://example.com:99999":  "",
		"ftp://example.com":          "",
		"javascript:alert(1)":        "",
		"":                           "",
	} {
		got, ok := normalizeOrigin(in)
		if ok != (want != "") || got != want {
			t.Errorf("normalizeOrigin(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
