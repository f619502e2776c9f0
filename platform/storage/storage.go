// Package storage holds uploaded files for the knowledge base.
//
// Two implementations of Store exist. S3 talks to AWS S3 or any S3-compatible
// service (MinIO, Cloudflare R2, versitygw) through aws-sdk-go-v2 and hands out
// presigned PUT URLs that the browser uploads to directly. Local keeps objects
// in a directory on disk; it is the default when S3_BUCKET is not set, and its
// presigned URLs point at the API itself (PUT /v1/storage/local/{key}), signed
// with HMAC-SHA256 so that the flow is the same as with S3.
//
// The package also owns the upload rules (allowed types, maximum size) and the
// layout of upload keys (uploads/<workspaceId>/<uuidv7>.<ext>), so that the
// HTTP layer, the ingestion workers and the stores agree on them.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by this package. Callers compare with errors.Is; the
// returned errors usually wrap one of these with more detail.
var (
	// ErrInvalid reports a malformed request: an empty or negative size, a bad
	// filename, a missing content type, a malformed key or a body shorter than
	// its declared size. The HTTP layer maps it to 400 VALIDATION_ERROR.
	ErrInvalid = errors.New("storage: invalid request")
	// ErrUnsupportedType reports a content type or file extension that is not
	// allowed, or an extension that does not match the content type. The HTTP
	// layer maps it to 415 UNSUPPORTED_MEDIA_TYPE.
	ErrUnsupportedType = errors.New("storage: unsupported file type")
	// ErrTooLarge reports an upload larger than MaxUploadBytes, or a body
	// larger than the size it was signed or declared for. The HTTP layer maps
	// it to 413 PAYLOAD_TOO_LARGE.
	ErrTooLarge = errors.New("storage: file too large")
	// ErrNotFound reports that no object exists under the key.
	ErrNotFound = errors.New("storage: object not found")
	// ErrSignature reports a local upload URL whose signature does not match
	// its key, expiry, content type or size. The HTTP layer maps it to 401
	// INVALID_SIGNATURE (or 403).
	ErrSignature = errors.New("storage: invalid signature")
	// ErrExpired reports a local upload URL used after its expiry time.
	ErrExpired = errors.New("storage: upload URL expired")
)

// Object describes a stored object.
type Object struct {
	// Size is the length of the object in bytes.
	Size int64
	// ContentType is the object's media type, for example "application/pdf".
	ContentType string
}

// Store is where uploaded files live. Implementations are safe for
// concurrent use.
type Store interface {
	// PresignPut returns a URL that accepts exactly one HTTP PUT of an object
	// of the given content type and size under key until expiresAt. The
	// client must send the same Content-Type header and a body of exactly
	// size bytes.
	PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (url string, expiresAt time.Time, err error)
	// Open returns the object's content and description. It returns an error
	// wrapping ErrNotFound when the key does not exist. The caller closes
	// the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Put stores exactly size bytes read from r under key, replacing any
	// object that was there.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Delete removes the object under key. Deleting a key that does not
	// exist is not an error.
	Delete(ctx context.Context, key string) error
}

// Compile-time checks that both implementations satisfy Store.
var (
	_ Store = (*S3)(nil)
	_ Store = (*Local)(nil)
)
