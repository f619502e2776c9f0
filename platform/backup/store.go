package backup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Prefix is the S3 key prefix (folder) of every dump.
const Prefix = "backups/"

// SumSuffix is appended to a dump's name to name its checksum sidecar. The sidecar holds
// one line in sha256sum format ("<hex>  <name>"), so `sha256sum -c` checks a downloaded pair.
const SumSuffix = ".sha256"

// nameLayout is the UTC timestamp inside a dump's name: axon-20060102T150405Z.dump.
const nameLayout = "20060102T150405Z"

var (
	// ErrNotFound is returned for a dump that does not exist.
	ErrNotFound = errors.New("backup not found")
	// ErrNoSum is returned when a dump has no checksum sidecar.
	ErrNoSum = errors.New("no sha256 sidecar")

	// ownName matches the names Run writes; only these are ever pruned.
	ownName = regexp.MustCompile(`^axon-\d{8}T\d{6}Z\.dump$`)
)

// Dump describes one stored dump.
type Dump struct {
	Name     string    // axon-<UTC timestamp>.dump
	Size     int64     // bytes
	Created  time.Time // from the name when it is one of ours, else the store's modification time
	SHA256   string    // hex; empty when the sidecar is missing
	Location string    // s3://bucket/backups/name or file:///dir/name
}

// Store is where dumps live: an S3 bucket (S3) or a local directory (Dir).
type Store interface {
	// URL returns the location of name, for messages (s3://… or file://…).
	URL(name string) string
	// Exists reports whether a dump called name exists.
	Exists(ctx context.Context, name string) (bool, error)
	// Write streams r into a new dump called name. When r is drained without error it
	// stores sum() as the dump's sidecar. On any error nothing named name is left behind.
	// expect is an upper estimate of the dump's size in bytes, 0 when unknown (S3 sizes
	// its parts from it).
	Write(ctx context.Context, name string, r io.Reader, sum func() string, expect int64) error
	// Open streams the dump called name; ErrNotFound when it does not exist.
	Open(ctx context.Context, name string) (io.ReadCloser, int64, error)
	// Sum returns the hex sha256 from name's sidecar; ErrNoSum when there is none.
	Sum(ctx context.Context, name string) (string, error)
	// List returns every *.dump in the store with its sidecar's sha256, in no order.
	List(ctx context.Context) ([]Dump, error)
	// Delete removes the dump called name and its sidecar.
	Delete(ctx context.Context, name string) error
}

// NameAt returns the name of a dump taken at t.
func NameAt(t time.Time) string { return "axon-" + t.UTC().Format(nameLayout) + ".dump" }

// createdFromName parses the timestamp of one of our names.
func createdFromName(name string) (time.Time, bool) {
	if !ownName.MatchString(name) {
		return time.Time{}, false
	}
	t, err := time.Parse(nameLayout, strings.TrimSuffix(strings.TrimPrefix(name, "axon-"), ".dump"))
	return t, err == nil
}

// CleanName turns what a user typed (a name, "backups/name", "s3://bucket/backups/name")
// into a dump name, or explains why it is not one.
func CleanName(key string) (string, error) {
	k := key
	if u, err := url.Parse(key); err == nil && u.Scheme == "s3" {
		k = strings.TrimPrefix(u.Path, "/")
	}
	k = strings.TrimPrefix(k, Prefix)
	if k == "" || strings.ContainsAny(k, `/\`) || k == "." || k == ".." || !strings.HasSuffix(k, ".dump") || strings.HasPrefix(k, ".") {
		return "", fmt.Errorf("%q is not a dump name: want a name such as %s (see `axon backup list`)", key, NameAt(time.Date(2025, 1, 31, 2, 0, 0, 0, time.UTC)))
	}
	return k, nil
}

// formatSum renders a sidecar's content.
func formatSum(sum, name string) string { return sum + "  " + name + "\n" }

// parseSum reads a sidecar's content.
func parseSum(b []byte, name string) (string, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("sidecar of %s is malformed", name)
	}
	if _, err := hex.DecodeString(f[0]); err != nil {
		return "", fmt.Errorf("sidecar of %s is malformed", name)
	}
	return strings.ToLower(f[0]), nil
}

// finish fills Created and sorts dumps newest first.
func finish(ds []Dump) []Dump {
	for i := range ds {
		if t, ok := createdFromName(ds[i].Name); ok {
			ds[i].Created = t
		}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		if !ds[i].Created.Equal(ds[j].Created) {
			return ds[i].Created.After(ds[j].Created)
		}
		return ds[i].Name > ds[j].Name
	})
	return ds
}

// List returns the store's dumps, newest first.
func List(ctx context.Context, s Store) ([]Dump, error) {
	ds, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return finish(ds), nil
}

// Prune deletes all but the newest keep dumps that Run wrote (names axon-<timestamp>.dump;
// other files are never touched) and returns the deleted ones. keep must be positive.
func Prune(ctx context.Context, s Store, keep int) ([]Dump, error) {
	if keep < 1 {
		return nil, fmt.Errorf("keep must be at least 1 (got %d)", keep)
	}
	ds, err := List(ctx, s)
	if err != nil {
		return nil, err
	}
	var deleted []Dump
	kept := 0
	for _, d := range ds {
		if !ownName.MatchString(d.Name) {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		if err := s.Delete(ctx, d.Name); err != nil {
			return deleted, fmt.Errorf("prune %s: %w", d.Name, err)
		}
		deleted = append(deleted, d)
	}
	return deleted, nil
}

// isDumpName reports whether a listed file name is a dump (not a sidecar or a partial).
func isDumpName(name string) bool {
	return strings.HasSuffix(name, ".dump") && !strings.HasPrefix(name, ".") && path.Base(name) == name
}
