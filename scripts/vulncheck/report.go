package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// report is what govulncheck's JSON stream says: every OSV entry it considered and every
// finding, keyed by OSV id.
type report struct {
	summary map[string]string // id → one-line summary
	found   map[string]*vuln
}

// vuln is one OSV entry's findings.
type vuln struct {
	ID      string
	Module  string // "stdlib" for the standard library
	Version string // the version in use
	Fixed   string // "" when no fixed version exists
	Called  bool   // a trace reaches a vulnerable function from our code
	Trace   string // the first call trace's entry point, when Called
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

// parse reads govulncheck's `-format json` stream (a sequence of JSON objects).
func parse(r io.Reader) (*report, error) {
	rep := &report{summary: map[string]string{}, found: map[string]*vuln{}}
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			OSV *struct {
				ID      string `json:"id"`
				Summary string `json:"summary"`
			} `json:"osv"`
			Finding *struct {
				OSV          string  `json:"osv"`
				FixedVersion string  `json:"fixed_version"`
				Trace        []frame `json:"trace"`
			} `json:"finding"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		if msg.OSV != nil {
			rep.summary[msg.OSV.ID] = msg.OSV.Summary
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		v := rep.found[f.OSV]
		if v == nil {
			// The first frame is the vulnerable module (govulncheck lists a trace from the
			// vulnerable symbol back to our code, whose frame is the last).
			v = &vuln{ID: f.OSV, Module: f.Trace[0].Module, Version: f.Trace[0].Version, Fixed: f.FixedVersion}
			rep.found[f.OSV] = v
		}
		if f.Trace[0].Function != "" && !v.Called {
			v.Called = true
			v.Trace = describe(f.Trace)
		}
	}
}

// describe names a trace by our code's frame (the last) and the vulnerable symbol (the first).
func describe(t []frame) string {
	sym := func(f frame) string {
		name := f.Function
		if f.Receiver != "" {
			name = strings.TrimPrefix(f.Receiver, "*") + "." + name
		}
		return f.Package + "." + name
	}
	ours := t[len(t)-1]
	s := sym(ours)
	if ours.Position != nil {
		s = fmt.Sprintf("%s:%d %s", ours.Position.Filename, ours.Position.Line, s)
	}
	return s + " → " + sym(t[0])
}

// judge prints the called vulnerabilities and returns the exit status: 1 when one of them
// is not allowed.
func (r *report) judge(allow map[string]string, dbVersion string, verbose bool, out io.Writer) int {
	ids := make([]string, 0, len(r.found))
	for id := range r.found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	called, failed := 0, 0
	for _, id := range ids {
		v := r.found[id]
		fixed := v.Fixed
		if fixed == "" {
			fixed = "no fix"
		}
		line := fmt.Sprintf("%s %s@%s (fixed: %s): %s", id, v.Module, v.Version, fixed, r.summary[id])
		switch {
		case !v.Called:
			if verbose {
				fmt.Fprintln(out, "  not called:", line)
			}
		case allow[id] != "":
			called++
			fmt.Fprintf(out, "  allowed:    %s\n              why: %s\n", line, allow[id])
		default:
			called++
			failed++
			fmt.Fprintf(out, "  CALLED:     %s\n              by:  %s\n", line, v.Trace)
		}
	}
	for id := range allow {
		if v := r.found[id]; v == nil || !v.Called {
			fmt.Fprintf(out, "  note: %s is allowed in allow.txt but no longer called; remove it\n", id)
		}
	}
	fmt.Fprintf(out, "vulncheck: golang.org/x/vulndb@%s: %d vulnerabilities found in dependencies, %d called by our code, %d of them not allowed\n",
		dbVersion, len(r.found), called, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
