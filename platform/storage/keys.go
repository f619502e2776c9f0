package storage

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// UploadPrefix is the first segment of every upload key.
const UploadPrefix = "uploads/"

// maxKeyBytes is S3's limit on the length of an object key.
const maxKeyBytes = 1024

// NewUploadKey returns a fresh key for a file uploaded to a workspace:
// uploads/<workspaceID>/<uuidv7>.<ext>. The extension is the one returned by
// ValidateUpload; a leading dot is dropped and it is lower-cased.
func NewUploadKey(workspaceID, ext string) string {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	return UploadPrefix + workspaceID + "/" + uuid.Must(uuid.NewV7()).String() + "." + ext
}

// KeyBelongsTo reports whether key is an upload key of the workspace: it must
// be exactly uploads/<workspaceID>/<name>, where name is one path segment
// that does not start with a dot, and the whole key must pass CheckKey (no
// "..", no absolute path, no backslash, only letters, digits, '.', '-', '_'
// and '/'). Use it before accepting a client-supplied storageKey.
func KeyBelongsTo(key, workspaceID string) bool {
	if workspaceID == "" || !isSegment(workspaceID) || CheckKey(key) != nil {
		return false
	}
	prefix := UploadPrefix + workspaceID + "/"
	name, ok := strings.CutPrefix(key, prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		return false
	}
	return true
}

// CheckKey reports whether key is safe to use as an object key and as a
// relative path under the local store's directory. A valid key is at most
// 1024 bytes of slash-separated segments; every segment is non-empty, does
// not start with a dot, and contains only ASCII letters, digits, '.', '-' and
// '_'; ".." appears nowhere. The error wraps ErrInvalid.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > maxKeyBytes {
		return fmt.Errorf("%w: key is longer than %d bytes", ErrInvalid, maxKeyBytes)
	}
	if strings.Contains(key, "..") {
		return fmt.Errorf("%w: key %q contains \"..\"", ErrInvalid, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if !isSegment(seg) {
			return fmt.Errorf("%w: key %q is not a safe relative path", ErrInvalid, key)
		}
	}
	return nil
}

// isSegment reports whether s is a non-empty path segment made of allowed
// characters that does not start with a dot.
func isSegment(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
