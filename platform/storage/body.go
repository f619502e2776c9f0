package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// exactReader yields the first size bytes of r and fails if r holds more
// (ErrTooLarge) or fewer (ErrInvalid) bytes than that. It never reads more
// than size+1 bytes from r.
type exactReader struct {
	r      io.Reader
	size   int64
	remain int64
	done   bool
	err    error // the size mismatch found, if any; sticky
}

// exactBody wraps r in an exactReader for size bytes.
func exactBody(r io.Reader, size int64) (*exactReader, error) {
	if r == nil {
		if size == 0 {
			return &exactReader{done: true}, nil
		}
		return nil, fmt.Errorf("%w: nil body", ErrInvalid)
	}
	return &exactReader{r: r, size: size, remain: size}, nil
}

// mismatch returns the size mismatch the reader found, or nil. Callers whose
// transport hides the reader's error (an HTTP client) consult it after a
// failure.
func (e *exactReader) mismatch() error { return e.err }

// Read implements io.Reader. Before it hands out the last declared byte it
// makes sure that the source has nothing more, so that a consumer that stops
// after size bytes (an HTTP transport with a Content-Length) never sends a
// complete request for an oversized body.
func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.done || (e.remain == 0 && e.r == nil) {
		e.done = true
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if e.remain == 0 {
		if err := e.expectEOF(); err != nil {
			return 0, err
		}
		e.done = true
		return 0, io.EOF
	}
	if int64(len(p)) > e.remain {
		p = p[:e.remain]
	}
	n, err := e.r.Read(p)
	e.remain -= int64(n)
	if errors.Is(err, io.EOF) {
		if e.remain > 0 {
			e.err = fmt.Errorf("%w: body is shorter than the declared %d bytes", ErrInvalid, e.size)
			return n, e.err
		}
		err = nil
	}
	if err != nil {
		return n, err
	}
	if e.remain == 0 {
		if err := e.expectEOF(); err != nil {
			return 0, err // Withhold the last bytes of an oversized body.
		}
		e.done = true
	}
	return n, nil
}

// expectEOF reads one byte past the declared size and records ErrTooLarge if
// there is one.
func (e *exactReader) expectEOF() error {
	var one [1]byte
	for range 100 {
		n, err := e.r.Read(one[:])
		if n > 0 {
			e.err = fmt.Errorf("%w: body is longer than the declared %d bytes", ErrTooLarge, e.size)
			return e.err
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// ctxReader stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read implements io.Reader.
func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
