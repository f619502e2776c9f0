package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// parseLocalURL splits a local presigned URL into its key, expires and sig.
func parseLocalURL(t *testing.T, base, raw string) (key, expires, sig string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	prefix := strings.TrimPrefix(base, "http://localhost:3001") + LocalRoutePrefix
	key, ok := strings.CutPrefix(u.Path, prefix)
	if !ok {
		t.Fatalf("path %q lacks prefix %q", u.Path, prefix)
	}
	return key, u.Query().Get("expires"), u.Query().Get("sig")
}

func TestLocalPresignVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLocal(t.TempDir(), "http://localhost:3001/", []byte("0123456789abcdef0123456789abcdef"))
	key := NewUploadKey(wsID, "pdf")
	before := time.Now()
	raw, expiresAt, err := l.PresignPut(ctx, key, "application/pdf", 1234, PresignTTL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "http://localhost:3001/v1/storage/local/"+key+"?") {
		t.Fatalf("url = %q", raw)
	}
	if d := expiresAt.Sub(before); d < PresignTTL-time.Second || d > PresignTTL+time.Second {
		t.Fatalf("expiresAt is %v after now, want about %v", d, PresignTTL)
	}
	gotKey, expires, sig := parseLocalURL(t, "http://localhost:3001", raw)
	if gotKey != key || expires != fmt.Sprint(expiresAt.Unix()) || len(sig) != 64 {
		t.Fatalf("parsed key=%q expires=%q sig=%q", gotKey, expires, sig)
	}
	now := time.Now()
	flip := []byte(sig)
	if flip[0] == '0' {
		flip[0] = '1'
	} else {
		flip[0] = '0'
	}
	tests := []struct {
		name              string
		key, exp, sig, ct string
		size              int64
		now               time.Time
		want              error
	}{
		{"ok", key, expires, sig, "application/pdf", 1234, now, nil},
		{"ok upper-case hex", key, expires, strings.ToUpper(sig), "application/pdf", 1234, now, nil},
		{"ok at expiry second", key, expires, sig, "application/pdf", 1234, expiresAt, nil},
		{"tampered sig", key, expires, string(flip), "application/pdf", 1234, now, ErrSignature},
		{"truncated sig", key, expires, sig[:62], "application/pdf", 1234, now, ErrSignature},
		{"non-hex sig", key, expires, strings.Repeat("z", 64), "application/pdf", 1234, now, ErrSignature},
		{"empty sig", key, expires, "", "application/pdf", 1234, now, ErrSignature},
		{"expired", key, expires, sig, "application/pdf", 1234, expiresAt.Add(time.Second), ErrExpired},
		{"extended expiry", key, fmt.Sprint(expiresAt.Unix() + 3600), sig, "application/pdf", 1234, now, ErrSignature},
		{"other content type", key, expires, sig, "text/html", 1234, now, ErrSignature},
		{"other size", key, expires, sig, "application/pdf", 1235, now, ErrSignature},
		{"unknown size", key, expires, sig, "application/pdf", -1, now, ErrSignature},
		{"other key", NewUploadKey(wsID, "pdf"), expires, sig, "application/pdf", 1234, now, ErrSignature},
		{"bad key", "../" + key, expires, sig, "application/pdf", 1234, now, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.VerifyPut(tt.key, tt.exp, tt.sig, tt.ct, tt.size, tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifyPut = %v, want %v", err, tt.want)
			}
		})
	}

	other := NewLocal(t.TempDir(), "http://localhost:3001", []byte("another secret, another replica"))
	if err := other.VerifyPut(key, expires, sig, "application/pdf", 1234, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("VerifyPut with another secret = %v, want ErrSignature", err)
	}
}

func TestLocalPresignRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLocal(t.TempDir(), "http://x", nil)
	for _, tc := range []struct {
		key, ct string
		size    int64
		ttl     time.Duration
	}{
		{"../x", "text/plain", 1, time.Minute},
		{"a/b.txt", "", 1, time.Minute},
		{"a/b.txt", "text/plain", 0, time.Minute},
		{"a/b.txt", "text/plain", 1, 0},
	} {
		if _, _, err := l.PresignPut(ctx, tc.key, tc.ct, tc.size, tc.ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("PresignPut(%+v) = %v, want ErrInvalid", tc, err)
		}
	}
}

func TestLocalPutOpenDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	l := NewLocal(dir, "http://x", nil)
	key := NewUploadKey(wsID, "md")
	data := []byte("# Title\n\nSome knowledge.\n")

	if _, _, err := l.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open before Put = %v, want ErrNotFound", err)
	}
	// A one-byte-at-a-time reader exercises the exact-length reader.
	if err := l.Put(ctx, key, iotest.OneByteReader(bytes.NewReader(data)), int64(len(data)), "text/markdown"); err != nil {
		t.Fatal(err)
	}
	rc, obj, err := l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %q, %v; want %q", got, err, data)
	}
	if obj.Size != int64(len(data)) || obj.ContentType != "text/markdown" {
		t.Fatalf("object = %+v", obj)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
		t.Fatalf("file not under dir: %v", err)
	}

	// Overwrite replaces the content.
	if err := l.Put(ctx, key, strings.NewReader("v2"), 2, "text/markdown"); err != nil {
		t.Fatal(err)
	}
	rc, obj, err = l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if string(got) != "v2" || obj.Size != 2 {
		t.Fatalf("after overwrite: %q %+v", got, obj)
	}

	if err := l.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
	}
	if err := l.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete = %v, want nil", err)
	}
	// A directory is not an object.
	if _, _, err := l.Open(ctx, "uploads/"+wsID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(directory) = %v, want ErrNotFound", err)
	}
	assertNoTempFiles(t, dir)
}

func TestLocalPutSizeMismatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	l := NewLocal(dir, "http://x", nil)
	key := NewUploadKey(wsID, "txt")

	if err := l.Put(ctx, key, strings.NewReader("hello world"), 5, "text/plain"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of a longer body = %v, want ErrTooLarge", err)
	}
	if err := l.Put(ctx, key, strings.NewReader("hi"), 5, "text/plain"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Put of a shorter body = %v, want ErrInvalid", err)
	}
	if err := l.Put(ctx, key, iotest.ErrReader(io.ErrUnexpectedEOF), 5, "text/plain"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put of a failing body = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, _, err := l.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after failed Puts = %v, want ErrNotFound", err)
	}
	// An empty object is fine when declared so.
	if err := l.Put(ctx, "empty.txt", strings.NewReader(""), 0, "text/plain"); err != nil {
		t.Fatalf("Put of an empty object = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Put(cctx, key, strings.NewReader("hello"), 5, "text/plain"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v, want context.Canceled", err)
	}
	assertNoTempFiles(t, dir)
}

func TestLocalRefusesEscapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLocal(dir, "http://x", nil)
	for _, key := range []string{"../outside/x.txt", "/etc/passwd", `..\outside\x.txt`, "a/../../outside/x.txt", ""} {
		if err := l.Put(ctx, key, strings.NewReader("x"), 1, "text/plain"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Put(%q) = %v, want ErrInvalid", key, err)
		}
		if _, _, err := l.Open(ctx, key); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", key, err)
		}
		if err := l.Delete(ctx, key); !errors.Is(err, ErrInvalid) {
			t.Errorf("Delete(%q) = %v, want ErrInvalid", key, err)
		}
	}
	// A symbolic link planted inside the directory must not lead outside.
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	if err := l.Put(ctx, "link/x.txt", strings.NewReader("x"), 1, "text/plain"); err == nil {
		t.Error("Put through a symlink succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "x.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written outside the store: %v", err)
	}
	if rc, _, err := l.Open(ctx, "link/secret.txt"); err == nil {
		rc.Close()
		t.Error("Open through a symlink succeeded")
	}
}

func TestLocalConcurrentPuts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLocal(t.TempDir(), "http://x", nil)
	key := NewUploadKey(wsID, "txt")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			body := strings.Repeat(fmt.Sprint(i%10), 4096)
			if err := l.Put(ctx, key, strings.NewReader(body), int64(len(body)), "text/plain"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rc, obj, err := l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if obj.Size != 4096 || len(got) != 4096 || strings.Count(string(got), string(got[0])) != 4096 {
		t.Fatalf("object is a mix of writes: size %d", obj.Size)
	}
}

// TestLocalUploadFlow runs the whole browser flow against a stand-in for the
// web layer's PUT /v1/storage/local/{key} route: presign, PUT the bytes to the
// URL, then Open.
func TestLocalUploadFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var l *Local
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, LocalRoutePrefix)
		if r.Method != http.MethodPut || !ok {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if err := l.VerifyPut(key, q.Get("expires"), q.Get("sig"), r.Header.Get("Content-Type"), r.ContentLength, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if err := l.Put(r.Context(), key, r.Body, r.ContentLength, r.Header.Get("Content-Type")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	l = NewLocal(t.TempDir(), srv.URL, []byte("flow-secret"))

	data := []byte("id,question\n1,How do I reset my password?\n")
	key := NewUploadKey(wsID, "csv")
	uploadURL, _, err := l.PresignPut(ctx, key, "text/csv", int64(len(data)), PresignTTL)
	if err != nil {
		t.Fatal(err)
	}
	put := func(ct string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPut, uploadURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("text/html", data); code != http.StatusUnauthorized {
		t.Fatalf("PUT with another content type: %d", code)
	}
	if code := put("text/csv", append(data, 'x')); code != http.StatusUnauthorized {
		t.Fatalf("PUT with another size: %d", code)
	}
	if code := put("text/csv", data); code != http.StatusOK {
		t.Fatalf("PUT: %d", code)
	}
	rc, obj, err := l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, data) || obj.ContentType != "text/csv" {
		t.Fatalf("got %q %+v", got, obj)
	}
}

// assertNoTempFiles fails if a temporary file was left anywhere under dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}
