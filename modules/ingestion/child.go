package ingestion

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/axonhq/axon/platform/storage"
)

// ChildCommand is the hidden subcommand of the axon binary that parses one document in a
// child process (see ExtractChildMain and sandbox.go).
const ChildCommand = "extract-child"

// Limits of the extraction child (docs/decisions.md, "Parsing untrusted documents in a
// child process"). The memory limit is RLIMIT_DATA, not RLIMIT_AS: a Go 1.26 process
// reserves about 1.2 GB of address space before main runs, so any address-space limit
// below that kills it at its first allocation, while RLIMIT_DATA counts only memory
// actually mapped writable (heap, stacks, pdftotext's malloc).
const (
	childMemoryLimit = 512 << 20
	// childSoftMemory is the Go heap's soft limit (GOMEMLIMIT): the collector works hard
	// well before the hard limit.
	childSoftMemory = 200 << 20
	childCPUSeconds = 30
	// maxExtractWords stops extraction of a document that could not be stored anyway: a
	// document of more words makes more than maxChunks chunks with every chunk size.
	maxExtractWords = maxChunks * 512
)

// Messages of a document whose parser was stopped.
const (
	childMemoryMsg  = "The file could not be parsed: it exceeded the 512 MB memory limit"
	childCPUMsg     = "The file could not be parsed: it exceeded the 30-second CPU limit"
	childTimeoutMsg = "The file could not be parsed: it timed out after 60 seconds"
	childOutputMsg  = "The file could not be parsed: it produced more than 64 MB of text"
	childFailedMsg  = "The file could not be parsed: the parser failed"
)

// childLine is one line of the child's output: a block, or the final line with the
// extraction's note or error and the child's peak memory.
type childLine struct {
	Text      string `json:"t,omitempty"`
	Page      int    `json:"p,omitempty"`
	Heading   string `json:"h,omitempty"`
	Done      bool   `json:"done,omitempty"`
	Note      string `json:"note,omitempty"`
	Error     string `json:"error,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	PeakRSSKB int64  `json:"peakRssKB,omitempty"`
}

// ExtractChildMain is the extraction child: `axon extract-child KIND` with the file on
// stdin (KIND is pdf, docx, html, csv, txt or md). It limits its own memory and CPU time
// before reading anything, then writes one JSON line per extracted block to stdout and a
// final line {"done":true,…} with a note or an error message. It returns the exit code.
// Limits it hits end it abruptly (the Go runtime's fatal "out of memory", SIGKILL at the
// CPU limit); the parent reports those.
func ExtractChildMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: axon "+ChildCommand+" pdf|docx|html|csv|txt|md < FILE")
		return 2
	}
	if err := limitSelf(); err != nil {
		fmt.Fprintln(stderr, "extract-child: setting limits:", err)
		return 1
	}
	debug.SetMemoryLimit(childSoftMemory)
	w := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(w)
	words := 0
	add := func(b block) error {
		words += countWords(b.Text)
		if words > maxExtractWords {
			return permanentf("The document is too large: more than %d words of text", maxExtractWords)
		}
		return enc.Encode(childLine{Text: b.Text, Page: b.Page, Heading: b.Heading})
	}
	note, err := extractKind(context.Background(), args[0], stdin, add)
	end := childLine{Done: true, Note: note}
	if err != nil {
		end.Note = ""
		end.Error, end.Permanent = classify(err)
		if _, ok := errors.AsType[*ingestError](err); !ok {
			end.Error, end.Permanent = childFailedMsg, true
		}
		fmt.Fprintln(stderr, "extract-child:", err)
	}
	end.PeakRSSKB = peakRSSKB()
	_ = enc.Encode(end)
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

// extractKind parses src as kind, handing each block to add.
func extractKind(ctx context.Context, kind string, src io.Reader, add func(block) error) (string, error) {
	if kind == "csv" {
		return "", csvStream(src, add)
	}
	if kind == "pdf" {
		return pdfStream(ctx, src, add)
	}
	data, err := io.ReadAll(io.LimitReader(src, storage.MaxUploadBytes+1))
	if err != nil {
		return "", err
	}
	if int64(len(data)) > storage.MaxUploadBytes {
		return "", permanentf("The file is larger than %d MB", storage.MaxUploadBytes>>20)
	}
	var blocks []block
	switch kind {
	case "docx":
		return "", docxStream(data, add)
	case "html":
		blocks, _ = htmlBlocks(data, "")
	case "txt", "md":
		blocks = textBlocks(string(data), kind == "md")
	default:
		return "", permanentf("Files of type %s cannot be ingested", kind)
	}
	for _, b := range blocks {
		if err := add(b); err != nil {
			return "", err
		}
	}
	return "", nil
}

// limitSelf applies the child's memory and CPU limits to this process (and so to the
// pdftotext it starts). At the CPU limit the kernel sends SIGKILL (soft = hard).
func limitSelf() error {
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: childMemoryLimit, Max: childMemoryLimit}); err != nil {
		return fmt.Errorf("RLIMIT_DATA: %w", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: childCPUSeconds, Max: childCPUSeconds}); err != nil {
		return fmt.Errorf("RLIMIT_CPU: %w", err)
	}
	// No core dumps of hostile input.
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
}

// peakRSSKB is the peak resident memory of this process and its finished children
// (pdftotext), from /proc/self/status (VmHWM) and getrusage(RUSAGE_CHILDREN).
func peakRSSKB() int64 {
	var peak int64
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				peak, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		peak = max(peak, ru.Maxrss)
	}
	return peak
}
