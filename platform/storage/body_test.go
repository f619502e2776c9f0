package storage

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestExactReader(t *testing.T) {
	t.Parallel()
	const content = "exactly these bytes"
	r, err := exactBody(strings.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(r, []byte(content)); err != nil {
		t.Fatal(err)
	}

	// An oversized body never yields its size-th byte.
	r, _ = exactBody(strings.NewReader(content), 5)
	got, err := io.ReadAll(iotest.OneByteReader(r))
	if !errors.Is(err, ErrTooLarge) || len(got) != 4 || !errors.Is(r.mismatch(), ErrTooLarge) {
		t.Fatalf("oversized: read %q, %v", got, err)
	}

	r, _ = exactBody(strings.NewReader("abc"), 5)
	got, err = io.ReadAll(r)
	if !errors.Is(err, ErrInvalid) || string(got) != "abc" || !errors.Is(r.mismatch(), ErrInvalid) {
		t.Fatalf("short: read %q, %v", got, err)
	}

	if _, err := exactBody(nil, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil body of 1 byte: %v", err)
	}
	r, _ = exactBody(nil, 0)
	if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
		t.Fatalf("nil empty body: %q, %v", got, err)
	}
}
