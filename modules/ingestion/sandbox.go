package ingestion

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Limits the parent puts on one extraction child (the child limits its own memory and
// CPU time, see child.go).
const (
	childTimeout   = 60 * time.Second
	childMaxOutput = 64 << 20
	// childEnvMarker is set in the child's environment; a process that has it refuses to
	// start children of its own (a misconfigured command can then not recurse).
	childEnvMarker = "AXON_EXTRACT_CHILD"
)

// sandbox parses untrusted files in a child process: the axon binary's hidden
// extract-child subcommand by default. The worst a file can do is fail its own document:
// the child runs with a memory limit, a CPU limit, a wall-clock timeout and a cap on its
// output, without the parent's environment (no secrets), in its own process group that is
// killed as a whole.
type sandbox struct {
	command []string // argv before KIND
	timeout time.Duration
	// maxOutput caps the bytes read from the child's stdout.
	maxOutput int64
	// observe, when set (tests), receives every finished child run.
	observe func(childRun)
}

// childRun describes one finished child.
type childRun struct {
	Kind string
	// PeakRSSKB is the child's peak resident memory in KiB as the child reported it
	// (its VmHWM, and ru_maxrss of pdftotext). For a child that died without reporting it
	// is RusageMaxRSSKB, an upper bound: Linux starts a child's ru_maxrss at the parent's
	// peak, since the child shares the parent's memory between fork and exec.
	PeakRSSKB int64
	CPU       time.Duration
	// RusageMaxRSSKB is ru_maxrss alone.
	RusageMaxRSSKB int64
	Err            error
}

// newSandbox returns a sandbox running command (argv before KIND); an empty command runs
// this executable's extract-child subcommand.
func newSandbox(command []string) (*sandbox, error) {
	if len(command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("ingestion: locating the executable for the extraction child: %w", err)
		}
		command = []string{exe, ChildCommand}
	}
	return &sandbox{command: command, timeout: childTimeout, maxOutput: childMaxOutput}, nil
}

// extract parses src (a file of the given kind: pdf, docx, html, csv, txt, md) in a child
// process and returns its blocks and note. A child stopped by a limit or crashing is a
// permanent error with a message saying which limit; a cancelled ctx returns ctx.Err().
func (s *sandbox) extract(ctx context.Context, kind string, src io.Reader) ([]block, string, error) {
	if os.Getenv(childEnvMarker) != "" {
		return nil, "", errors.New("ingestion: an extraction child must not start another")
	}
	wctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(wctx, s.command[0], append(append([]string{}, s.command[1:]...), kind)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "GOMAXPROCS=1", childEnvMarker + "=1"}
	cmd.Stdin = src
	var stderr capBuffer
	stderr.max = 16 << 10
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", transient(err, "Document parsing is not available on this server")
	}
	blocks, end, overflow, readErr := readChild(out, s.maxOutput)
	if overflow || readErr != nil {
		_ = cmd.Cancel()
		_, _ = io.Copy(io.Discard, out)
	}
	waitErr := cmd.Wait()
	run := childRun{Kind: kind, PeakRSSKB: end.PeakRSSKB}
	var ru *syscall.Rusage
	if cmd.ProcessState != nil {
		ru, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	if ru != nil {
		run.RusageMaxRSSKB = ru.Maxrss
		if !end.Done {
			run.PeakRSSKB = ru.Maxrss
		}
		run.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	err = s.outcome(ctx, wctx, cmd, end, overflow, readErr, waitErr, run.CPU, stderr.String())
	run.Err = err
	if s.observe != nil {
		s.observe(run)
	}
	if err != nil {
		return nil, "", err
	}
	return blocks, end.Note, nil
}

// readChild reads the child's JSON lines until its final line, at most maxOutput bytes. overflow reports output past the cap.
func readChild(out io.Reader, maxOutput int64) (blocks []block, end childLine, overflow bool, err error) {
	lr := &io.LimitedReader{R: out, N: maxOutput + 1}
	r := bufio.NewReaderSize(lr, 64<<10)
	for {
		line, rerr := r.ReadBytes('\n')
		if lr.N <= 0 {
			return nil, childLine{}, true, nil
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var l childLine
			if jerr := json.Unmarshal(line, &l); jerr != nil {
				return nil, childLine{}, false, fmt.Errorf("extraction child: malformed output: %w", jerr)
			}
			if l.Done {
				return blocks, l, false, nil
			}
			blocks = append(blocks, block{Text: l.Text, Page: l.Page, Heading: l.Heading})
			continue
		}
		if rerr != nil {
			return blocks, childLine{}, false, nil // ended without its final line: see the exit status
		}
	}
}

// outcome turns how the child ended into the extraction's error (nil for success).
func (s *sandbox) outcome(ctx, wctx context.Context, cmd *exec.Cmd, end childLine, overflow bool, readErr, waitErr error, cpu time.Duration, stderr string) error {
	if ctx.Err() != nil {
		return ctx.Err() // the job's context: shutdown or the job's own timeout
	}
	cause := fmt.Errorf("extraction child (%v): %s", waitErr, strings.TrimSpace(stderr))
	fail := func(msg string) error { return &ingestError{msg: msg, permanent: true, cause: cause} }
	switch {
	case overflow:
		return fail(childOutputMsg)
	case end.Done && end.Error != "":
		return &ingestError{msg: end.Error, permanent: end.Permanent, cause: cause}
	case end.Done && readErr == nil:
		return nil
	case errors.Is(wctx.Err(), context.DeadlineExceeded):
		return fail(childTimeoutMsg)
	case readErr != nil:
		return &ingestError{msg: childFailedMsg, permanent: true, cause: readErr}
	}
	if st := cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			switch {
			case ws.Signal() == syscall.SIGXCPU || (ws.Signal() == syscall.SIGKILL && cpu >= (childCPUSeconds-1)*time.Second):
				return fail(childCPUMsg)
			case ws.Signal() == syscall.SIGKILL:
				// Killed by no limit of ours: the kernel's OOM killer.
				return fail(childMemoryMsg)
			}
		}
	}
	if low := strings.ToLower(stderr); strings.Contains(low, "out of memory") || strings.Contains(low, "cannot allocate memory") {
		return fail(childMemoryMsg)
	}
	return fail(childFailedMsg)
}
