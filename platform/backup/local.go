package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a Store in a local directory: <dir>/<name> and <dir>/<name>.sha256. Dumps hold
// every customer's data, so the directory is created 0700 and files 0600.
type Dir struct {
	dir string
}

// ParseDir returns the Dir named by a file:///absolute/path URL.
func ParseDir(raw string) (*Dir, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
		return nil, fmt.Errorf("%q is not a local directory URL: want file:///absolute/path", raw)
	}
	return &Dir{dir: filepath.Clean(u.Path)}, nil
}

// NewDir returns a Dir for the directory dir.
func NewDir(dir string) *Dir { return &Dir{dir: filepath.Clean(dir)} }

// URL implements Store.
func (d *Dir) URL(name string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(d.dir, name))}).String()
}

// Path returns the file of the dump called name.
func (d *Dir) Path(name string) string { return filepath.Join(d.dir, name) }

// Exists implements Store.
func (d *Dir) Exists(_ context.Context, name string) (bool, error) {
	_, err := os.Stat(d.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Write implements Store. The dump is written to a hidden partial file, synced, its
// sidecar written, and only then renamed to name, so a dump never exists without its
// checksum and a crash leaves only a ".partial" file behind.
func (d *Dir) Write(_ context.Context, name string, r io.Reader, sum func() string, _ int64) (err error) {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("create backup directory: %w", err)
	}
	final := d.Path(name)
	partial := filepath.Join(d.dir, "."+name+".partial")
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", partial, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(partial)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", partial, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", partial, err)
	}
	sumTmp := filepath.Join(d.dir, "."+name+SumSuffix+".partial")
	if err = os.WriteFile(sumTmp, []byte(formatSum(sum(), name)), 0o600); err != nil {
		return fmt.Errorf("write checksum: %w", err)
	}
	defer os.Remove(sumTmp)
	// Link, unlike Rename, refuses to replace an existing dump; Rename is the fallback for
	// file systems without hard links (Run has checked that the name is free).
	if err = os.Link(partial, final); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists", d.URL(name))
	} else if err != nil {
		if err = os.Rename(partial, final); err != nil {
			return fmt.Errorf("publish %s: %w", final, err)
		}
	}
	if err = os.Rename(sumTmp, final+SumSuffix); err != nil {
		os.Remove(final)
		return fmt.Errorf("publish checksum of %s: %w", final, err)
	}
	os.Remove(partial)
	syncDir(d.dir)
	return nil
}

// Open implements Store.
func (d *Dir) Open(_ context.Context, name string) (io.ReadCloser, int64, error) {
	f, err := os.Open(d.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, d.URL(name))
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// Sum implements Store.
func (d *Dir) Sum(_ context.Context, name string) (string, error) {
	b, err := os.ReadFile(d.Path(name) + SumSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w for %s", ErrNoSum, d.URL(name))
	}
	if err != nil {
		return "", err
	}
	return parseSum(b, name)
}

// List implements Store.
func (d *Dir) List(ctx context.Context) ([]Dump, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ds []Dump
	for _, e := range entries {
		if !e.Type().IsRegular() || !isDumpName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed while listing
		}
		dump := Dump{Name: e.Name(), Size: info.Size(), Created: info.ModTime().UTC(), Location: d.URL(e.Name())}
		if s, err := d.Sum(ctx, e.Name()); err == nil {
			dump.SHA256 = s
		}
		ds = append(ds, dump)
	}
	return ds, nil
}

// Delete implements Store.
func (d *Dir) Delete(_ context.Context, name string) error {
	if err := os.Remove(d.Path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(d.Path(name) + SumSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir makes renames durable; errors are ignored because some file systems refuse it.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

var _ Store = (*Dir)(nil)

// String returns the directory's URL.
func (d *Dir) String() string { return strings.TrimSuffix(d.URL(""), "/") + "/" }
