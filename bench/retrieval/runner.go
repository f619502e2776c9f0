package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/testkit/pdftest"
)

// runner lets the evaluation use the test kit (pgtest, apitest) outside `go test`: it
// implements the few testing.TB methods they call. A fatal error prints, unwinds to main
// (which runs the cleanups, dropping the database) and exits 1.
type runner struct {
	testing.TB // nil: any other method panics
	cleanups   []func()
	dirs       []string
}

type fatal struct{}

func (*runner) Helper()      {}
func (*runner) Name() string { return "eval" }

func (r *runner) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *runner) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	for _, d := range r.dirs {
		_ = os.RemoveAll(d)
	}
}

func (r *runner) TempDir() string {
	d, err := os.MkdirTemp("", "axon-eval-")
	if err != nil {
		r.Fatal(err)
	}
	r.dirs = append(r.dirs, d)
	return d
}

func (r *runner) Fatal(args ...any) { r.Fatalf("%s", strings.TrimSuffix(fmt.Sprintln(args...), "\n")) }

func (r *runner) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "eval: "+format+"\n", args...)
	panic(fatal{})
}

func (r *runner) Errorf(format string, args ...any) { r.Fatalf(format, args...) }

func (r *runner) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (r *runner) Log(args ...any) { fmt.Fprintln(os.Stderr, args...) }

// makePDF builds a small valid PDF, one page per text (platform/testkit/pdftest).
var makePDF = pdftest.Make
