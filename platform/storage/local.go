package storage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// LocalRoutePrefix is the path under the API's base URL that serves local
// uploads: PUT <baseURL>/v1/storage/local/<key>?expires=<unix>&sig=<hex>.
const LocalRoutePrefix = "/v1/storage/local/"

// Local is a Store that keeps objects as files under a directory, the
// default when S3_BUCKET is not set. It is safe for
// concurrent use.
//
// Its presigned URLs point at the API itself. The web layer serves
// PUT LocalRoutePrefix+key by calling VerifyPut with the query's expires and
// sig, the request's Content-Type and Content-Length, and then Put with the
// request body and the same size.
//
// Every file operation goes through an os.Root opened on the directory, so
// neither a crafted key nor a symbolic link inside the directory can reach
// a file outside it. Objects are written to a temporary file that is renamed
// into place, so a reader never sees a partial object.
type Local struct {
	dir     string
	baseURL string
	secret  []byte
}

// NewLocal returns a local store that keeps its files under dir (created on
// first write) and presigns URLs under baseURL, the API's public base URL
// (API_BASE_URL, for example "http://localhost:3001"). The secret keys the
// HMAC of the URLs; every replica that may receive the upload must share it.
// When secret is empty a random one is generated, which is enough for a
// single development process: its URLs stop working when it restarts.
func NewLocal(dir, baseURL string, secret []byte) *Local {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails.
	} else {
		secret = append([]byte(nil), secret...)
	}
	return &Local{dir: dir, baseURL: strings.TrimRight(baseURL, "/"), secret: secret}
}

// Dir returns the directory that holds the objects.
func (l *Local) Dir() string { return l.dir }

// PresignPut returns <baseURL>/v1/storage/local/<key>?expires=<unix>&sig=<hex>,
// where sig is the hex HMAC-SHA256 of
// "PUT\n"+key+"\n"+expires+"\n"+contentType+"\n"+size under the store's
// secret, and expiresAt is the expiry (now+ttl, whole seconds).
func (l *Local) PresignPut(_ context.Context, key, contentType string, size int64, ttl time.Duration) (string, time.Time, error) {
	if err := checkPresign(key, contentType, size, ttl); err != nil {
		return "", time.Time{}, err
	}
	expiresAt := time.Now().Add(ttl).Truncate(time.Second)
	expires := strconv.FormatInt(expiresAt.Unix(), 10)
	q := url.Values{}
	q.Set("expires", expires)
	q.Set("sig", hex.EncodeToString(l.sign(key, expires, contentType, size)))
	// CheckKey allows only characters that need no escaping in a path.
	return l.baseURL + LocalRoutePrefix + key + "?" + q.Encode(), expiresAt, nil
}

// sign computes the HMAC of one upload's parameters.
func (l *Local) sign(key, expires, contentType string, size int64) []byte {
	mac := hmac.New(sha256.New, l.secret)
	fmt.Fprintf(mac, "PUT\n%s\n%s\n%s\n%d", key, expires, contentType, size)
	return mac.Sum(nil)
}

// VerifyPut checks an upload request against its presigned URL: key is the
// path after LocalRoutePrefix, expires and sig come from the query,
// contentType is the request's Content-Type header and size its
// Content-Length. The signature is checked first, in constant time, so a
// changed expiry, content type or size yields an error wrapping
// ErrSignature; a valid URL used after its expiry yields ErrExpired; a
// malformed key yields ErrInvalid.
func (l *Local) VerifyPut(key, expires, sig, contentType string, size int64, now time.Time) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed sig", ErrSignature)
	}
	if !hmac.Equal(got, l.sign(key, expires, contentType, size)) {
		return ErrSignature
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		// Unreachable with a URL from PresignPut, which signs only integers.
		return fmt.Errorf("%w: malformed expires", ErrSignature)
	}
	if now.Unix() > exp {
		return fmt.Errorf("%w: at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// Put writes exactly size bytes from r to the file for key, atomically: the
// bytes go to a temporary file in the same directory, which is synced and
// renamed over the final name. A body longer than size fails with an error
// wrapping ErrTooLarge and a shorter one with ErrInvalid; in both cases
// nothing is stored. The content type is not stored: Open derives it from
// the key's extension.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, _ string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size", ErrInvalid)
	}
	body, err := exactBody(r, size)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("storage: create %s: %w", l.dir, err)
	}
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", l.dir, err)
	}
	defer root.Close()

	parent := path.Dir(key)
	if parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("storage: create directory for %q: %w", key, err)
		}
	}
	// Temporary names start with a dot, which CheckKey refuses in keys, so
	// they can neither collide with nor be opened as objects.
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(parent, ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("storage: create temporary file for %q: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: body}); err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalid) {
			return err
		}
		return fmt.Errorf("storage: write %q: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("storage: sync %q: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: close %q: %w", key, err)
	}
	if err := root.Rename(tmp, key); err != nil {
		_ = root.Remove(tmp)
		committed = true // f is closed and tmp removed.
		return fmt.Errorf("storage: rename into %q: %w", key, err)
	}
	committed = true
	return nil
}

// Open opens the file for key. A missing key yields an error wrapping
// ErrNotFound. Object.ContentType is derived from the key's extension
// (ContentTypeForExt), "application/octet-stream" for any other.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, Object{}, fmt.Errorf("storage: open %s: %w", l.dir, err)
	}
	defer root.Close() // Files opened through a Root stay usable after it closes.
	f, err := root.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, Object{}, fmt.Errorf("storage: open %q: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, Object{}, fmt.Errorf("storage: stat %q: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	ct, ok := ContentTypeForExt(path.Ext(key))
	if !ok {
		ct = "application/octet-stream"
	}
	return f, Object{Size: st.Size(), ContentType: ct}, nil
}

// Delete removes the file for key. A missing key is not an error. Emptied
// directories are left in place.
func (l *Local) Delete(_ context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("storage: open %s: %w", l.dir, err)
	}
	defer root.Close()
	if err := root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	return nil
}
