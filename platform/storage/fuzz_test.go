package storage

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Object keys come from clients (a knowledge document's storageKey, the local upload route's
// path): a key CheckKey accepts is a clean, local, relative path, so the local store can never
// be made to read or write outside its directory.
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{
		"uploads/ws/file.pdf", "../etc/passwd", "uploads/../../x", "/abs/path", "a//b", "a/./b", ".hidden",
		"a/b/", "a\\b", "uploads/ws/\x00.pdf", "C:/x", "a/..b", "%2e%2e/x", strings.Repeat("a/", 600),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		if !filepath.IsLocal(key) || filepath.Clean(key) != key || strings.Contains(key, "..") ||
			strings.ContainsAny(key, "\\\x00:%") || len(key) > maxKeyBytes {
			t.Fatalf("CheckKey accepted %q", key)
		}
	})
}

// The local upload route's query (expires, sig) and Content-Type come from the client: only
// the exact signed values pass VerifyPut.
func FuzzVerifyPut(f *testing.F) {
	l := NewLocal(f.TempDir(), "http://api.test", []byte("fuzz-secret-fuzz-secret-fuzz-secret"))
	now := time.Unix(1_800_000_000, 0)
	f.Add("uploads/ws/a.pdf", "1800000900", "", "application/pdf", int64(10))
	f.Add("uploads/ws/a.pdf", "1800000900", strings.Repeat("0", 64), "application/pdf", int64(10))
	f.Add("../a.pdf", "x", "zz", "", int64(-1))
	f.Fuzz(func(t *testing.T, key, expires, sig, contentType string, size int64) {
		err := l.VerifyPut(key, expires, sig, contentType, size, now)
		if err == nil {
			got, _ := hex.DecodeString(sig)
			if !hmac.Equal(got, l.sign(key, expires, contentType, size)) {
				t.Fatalf("VerifyPut accepted an unsigned request: %q %q %q %q %d", key, expires, sig, contentType, size)
			}
			return
		}
		if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
			t.Fatalf("VerifyPut error %v wraps none of the sentinels", err)
		}
	})
}
