package ingestion

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/testkit/pdftest"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// Hostile files, generated here rather than committed. Each must end its own document
// (ERROR with a clear message, or READY with capped content) and nothing else: the child
// that parses it stays under 300 MB of resident memory and the worker keeps serving.

// maxChildRSSKB is the peak resident memory a child may reach on any fixture.
const maxChildRSSKB = 300 << 10

// xrefBombPDF is a small PDF whose cross-reference subsection claims 10^12 entries; the Go
// PDF reader used before allocated for all of them until the process died.
func xrefBombPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n1000000000000 1\n0000000000 65535 f \ntrailer<</Size 1000000000001/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// streamBombPDF is a one-page PDF whose content stream inflates to 128 MB (a line of
// text, then zero bytes, which PDF treats as white space); compressed it is about 130 KB.
func streamBombPDF() []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	_, _ = io.WriteString(zw, "BT /F1 12 Tf 50 700 Td (Stream bomb visible text) Tj ET\n")
	zeros := make([]byte, 1<<20)
	for range 128 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes()),
	}
	return pdftest.Assemble(objs)
}

// docxBomb is a DOCX whose word/document.xml inflates to about 72 MB (one paragraph of
// text, then empty paragraphs) while the file is a few hundred KB. With lie, its zip
// headers declare 1 KB instead, so that only the reading itself can notice.
func docxBomb(lie bool) []byte {
	var xml, z bytes.Buffer
	xml.WriteString(`<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Bomb visible text</w:t></w:r></w:p>`)
	xml.WriteString(strings.Repeat("<w:p></w:p>", 104<<16)) // 73 MB
	xml.WriteString(`</w:body></w:document>`)
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	_, _ = fw.Write(xml.Bytes())
	_ = fw.Close()
	size := uint64(xml.Len())
	if lie {
		size = 1024
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.CreateRaw(&zip.FileHeader{
		Name: "word/document.xml", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(xml.Bytes()),
		CompressedSize64: uint64(z.Len()), UncompressedSize64: size,
	})
	_, _ = w.Write(z.Bytes())
	_ = zw.Close()
	return b.Bytes()
}

// deepHTML nests 10,000 <div> elements around one paragraph.
func deepHTML() []byte {
	return []byte("<html><body>" + strings.Repeat("<div>", 10000) + "<p>Deep visible text survives ten thousand levels</p>" + strings.Repeat("</div>", 10000) + "</body></html>")
}

// longLineCSV is a CSV whose second line is 50 MB long.
func longLineCSV() []byte {
	var b bytes.Buffer
	b.WriteString("name,notes\nAda,")
	b.Write(bytes.Repeat([]byte("x"), 50<<20))
	b.WriteString("\nBob,short\n")
	return b.Bytes()
}

// childAllocTest is the child mode "alloc-test" of the test binary: under the child's
// limits it allocates and touches memory until the limit ends the process.
func childAllocTest() int {
	if err := limitSelf(); err != nil {
		return 1
	}
	for {
		b := make([]byte, 8<<20)
		for i := range b {
			b[i] = 1
		}
		hog = append(hog, b)
	}
}

// hog keeps the alloc-test child's allocations reachable.
var hog [][]byte

// runChild parses data in a child with the default command (this test binary, see
// TestMain) and returns the blocks, the note, the child's run and the error.
func runChild(t *testing.T, kind string, data []byte) ([]block, string, childRun, error) {
	t.Helper()
	sb, err := newSandbox(nil)
	if err != nil {
		t.Fatal(err)
	}
	var run childRun
	sb.observe = func(r childRun) { run = r }
	blocks, note, err := sb.extract(context.Background(), kind, bytes.NewReader(data))
	return blocks, note, run, err
}

// TestHostileFilesInChild parses each hostile fixture in the extraction child and checks
// the outcome, the message and the child's peak memory.
func TestHostileFilesInChild(t *testing.T) {
	cases := []struct {
		name, kind string
		data       func() []byte
		// wantErr is a substring of the document's errorMsg; "" means the document
		// succeeds and wantText is in its text.
		wantErr, wantText string
	}{
		{"xref bomb PDF", "pdf", xrefBombPDF, "", ""},
		{"128 MB content stream PDF", "pdf", streamBombPDF, "", "Stream bomb visible text"},
		{"DOCX inflating past 64 MB", "docx", func() []byte { return docxBomb(false) }, "the document is too large", ""},
		// archive/zip refuses to inflate past the declared size.
		{"DOCX lying about its size", "docx", func() []byte { return docxBomb(true) }, "Could not read DOCX", ""},
		{"HTML nested 10,000 deep", "html", deepHTML, "", "Deep visible text survives ten thousand levels"},
		{"CSV with one 50 MB line", "csv", longLineCSV, "a line is longer than 1 MB", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			blocks, _, run, err := runChild(t, c.kind, c.data())
			t.Logf("%s: child peak RSS %d KB (ru_maxrss %d KB), CPU %s, err %v", c.name, run.PeakRSSKB, run.RusageMaxRSSKB, run.CPU, err)
			if run.PeakRSSKB <= 0 || run.PeakRSSKB > maxChildRSSKB {
				t.Errorf("child peak RSS %d KB, want (0, %d]", run.PeakRSSKB, maxChildRSSKB)
			}
			msg, _ := classify(err)
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(msg, c.wantErr) {
					t.Fatalf("err = %v (%q), want %q", err, msg, c.wantErr)
				}
			case c.name == "xref bomb PDF":
				// Poppler repairs the table or refuses the file; either ends the document.
				if err != nil && !strings.Contains(msg, "Could not read PDF") {
					t.Fatalf("err = %v (%q)", err, msg)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				var all strings.Builder
				for _, b := range blocks {
					all.WriteString(b.Text)
				}
				if !strings.Contains(all.String(), c.wantText) {
					t.Fatalf("text %q lacks %q", all.String(), c.wantText)
				}
			}
		})
	}
}

// TestChildLimits checks that a child stopped by a limit becomes the matching message:
// memory, wall-clock timeout and output cap, using a stand-in child (sh) for the last two.
func TestChildLimits(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		// The test binary's child mode with kind "alloc" (see TestMain) allocates until
		// the memory limit ends it.
		_, _, run, err := runChild(t, "alloc-test", nil)
		if raceEnabled && err != nil && strings.Contains(err.Error(), "ThreadSanitizer failed to allocate") {
			// Under -race the child is the race-built test binary: the same memory limit
			// stops ThreadSanitizer's own shadow allocation before the Go allocator reports
			// it. The limit took effect; the production binary is not race-built.
			t.Logf("race build: the memory limit stopped the child: %v", err)
			return
		}
		if msg, perm := classify(err); msg != childMemoryMsg || !perm {
			t.Fatalf("err = %v (%q, %v)", err, msg, perm)
		}
		t.Logf("memory: child peak RSS %d KB", run.PeakRSSKB)
	})
	t.Run("timeout", func(t *testing.T) {
		sb := &sandbox{command: []string{"sh", "-c", "sleep 30", "sh"}, timeout: 300 * time.Millisecond, maxOutput: childMaxOutput}
		_, _, err := sb.extract(context.Background(), "txt", strings.NewReader("x"))
		if msg, perm := classify(err); msg != childTimeoutMsg || !perm {
			t.Fatalf("err = %v (%q, %v)", err, msg, perm)
		}
	})
	t.Run("output cap", func(t *testing.T) {
		sb := &sandbox{command: []string{"sh", "-c", `yes '{"t":"endless"}'`, "sh"}, timeout: childTimeout, maxOutput: 1 << 20}
		_, _, err := sb.extract(context.Background(), "txt", strings.NewReader("x"))
		if msg, perm := classify(err); msg != childOutputMsg || !perm {
			t.Fatalf("err = %v (%q, %v)", err, msg, perm)
		}
	})
	t.Run("crash", func(t *testing.T) {
		sb := &sandbox{command: []string{"sh", "-c", "exit 7", "sh"}, timeout: childTimeout, maxOutput: childMaxOutput}
		_, _, err := sb.extract(context.Background(), "txt", strings.NewReader("x"))
		if msg, perm := classify(err); msg != childFailedMsg || !perm {
			t.Fatalf("err = %v (%q, %v)", err, msg, perm)
		}
	})
	t.Run("cancelled job", func(t *testing.T) {
		sb := &sandbox{command: []string{"sh", "-c", "sleep 30", "sh"}, timeout: childTimeout, maxOutput: childMaxOutput}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := sb.extract(ctx, "txt", strings.NewReader("x"))
		if err != context.Canceled {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// TestHostileFilesThroughPipeline uploads (presign, PUT, create) or serves by URL each
// hostile file, lets the worker ingest it and checks the document's end state. The same
// worker then ingests an ordinary document and the API keeps answering.
func TestHostileFilesThroughPipeline(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var runs []childRun
	h.mod.svc.x.sandbox.observe = func(r childRun) {
		mu.Lock()
		runs = append(runs, r)
		mu.Unlock()
	}
	h.StartWorker()
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	bomb := xrefBombPDF()
	h.mux.HandleFunc("/bomb.pdf", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write(bomb)
	})
	h.mux.HandleFunc("/deep.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(deepHTML())
	})
	docx := "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	cases := []struct {
		name     string
		create   func() map[string]any
		wantErr  string // "" = READY
		wantText string
	}{
		{"xref bomb uploaded", func() map[string]any {
			return map[string]any{"type": "PDF", "title": "bomb", "storageKey": h.upload(ws, "bomb.pdf", "application/pdf", bomb)}
		}, "No text could be extracted from this PDF", ""},
		{"xref bomb by URL", func() map[string]any {
			return map[string]any{"type": "URL", "title": "bomb", "sourceUrl": h.site.URL + "/bomb.pdf"}
		}, "No text could be extracted", ""},
		{"PDF stream bomb uploaded", func() map[string]any {
			return map[string]any{"type": "PDF", "title": "stream", "storageKey": h.upload(ws, "stream.pdf", "application/pdf", streamBombPDF())}
		}, "", "Stream bomb visible text"},
		{"DOCX bomb uploaded", func() map[string]any {
			return map[string]any{"type": "FILE", "title": "docx", "storageKey": h.upload(ws, "bomb.docx", docx, docxBomb(false))}
		}, "the document is too large", ""},
		{"deep HTML uploaded", func() map[string]any {
			return map[string]any{"type": "FILE", "title": "deep", "storageKey": h.upload(ws, "deep.html", "text/html", deepHTML())}
		}, "", "Deep visible text survives ten thousand levels"},
		{"deep HTML by URL", func() map[string]any {
			return map[string]any{"type": "URL", "title": "deep", "sourceUrl": h.site.URL + "/deep.html"}
		}, "", "Deep visible text survives ten thousand levels"},
		{"CSV with a 2 MB line uploaded", func() map[string]any {
			data := append([]byte("a,b\n1,"), bytes.Repeat([]byte("y"), 2<<20)...)
			return map[string]any{"type": "FILE", "title": "csv", "storageKey": h.upload(ws, "long.csv", "text/csv", data)}
		}, "a line is longer than 1 MB", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := h.create(ws, agent, c.create())
			d := h.wait(ws, agent, id)
			if c.wantErr != "" {
				if d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), c.wantErr) {
					t.Fatalf("status %s, errorMsg %q; want ERROR with %q", d.Status, str(d.ErrorMsg), c.wantErr)
				}
				return
			}
			if d.Status != StatusReady {
				t.Fatalf("status %s, errorMsg %q", d.Status, str(d.ErrorMsg))
			}
			var content string
			if err := h.DB.Get(&content, `SELECT string_agg(content, ' ') FROM knowledge_chunks WHERE doc_id = $1`, id); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(content, c.wantText) {
				t.Fatalf("chunks %q lack %q", content, c.wantText)
			}
		})
	}
	mu.Lock()
	for _, r := range runs {
		t.Logf("child %s: peak RSS %d KB, CPU %s, err %v", r.Kind, r.PeakRSSKB, r.CPU, r.Err)
		if r.PeakRSSKB > maxChildRSSKB {
			t.Errorf("child %s: peak RSS %d KB > %d KB", r.Kind, r.PeakRSSKB, maxChildRSSKB)
		}
	}
	if len(runs) < len(cases) {
		t.Errorf("%d child runs observed for %d documents", len(runs), len(cases))
	}
	mu.Unlock()
	// The worker and the API keep serving.
	id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "after", "content": "After the hostile files the worker still ingests ordinary text documents."})
	h.ready(ws, agent, id, 1)
	if res := h.Get("/v1/agents/"+agent+"/knowledge", ws.Token); res.Status != http.StatusOK {
		t.Fatalf("list after hostile files: %d", res.Status)
	}
}

// TestWorkerProcessSurvivesHostileFiles runs a real worker process (the helper of
// TestWorkerKilledMidIngestion) and serves it hostile files by URL: each document ends
// ERROR or READY, the worker's own peak RSS (VmHWM, read from /proc) stays under 300 MB,
// and it still ingests an ordinary document afterwards.
func TestWorkerProcessSurvivesHostileFiles(t *testing.T) {
	h := newHarness(t) // insert-only: the helper process works the jobs
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	files := map[string]struct {
		ctype string
		data  []byte
	}{
		"/xref-bomb.pdf":   {"application/pdf", xrefBombPDF()},
		"/stream-bomb.pdf": {"application/pdf", streamBombPDF()},
		"/deep.html":       {"text/html", deepHTML()},
		"/long-line.txt":   {"text/plain", bytes.Repeat([]byte("z"), 4<<20)},
	}
	for path, f := range files {
		h.mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", f.ctype)
			_, _ = w.Write(f.data)
		})
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+pgtest.URL(t), helperModeEnv+"=instant", helperAllowPrivateEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "READY"
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the helper worker did not start")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper worker did not start")
	}
	workerHWM := func() int64 {
		t.Helper()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatalf("the worker process is gone: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb
			}
		}
		t.Fatal("no VmHWM")
		return 0
	}
	for path := range files {
		id := h.create(ws, agent, map[string]any{"type": "URL", "title": path, "sourceUrl": h.site.URL + path})
		d := h.wait(ws, agent, id)
		hwm := workerHWM()
		t.Logf("%s: %s %q; worker peak RSS %d KB", path, d.Status, str(d.ErrorMsg), hwm)
		if d.Status == StatusError && str(d.ErrorMsg) == "" {
			t.Errorf("%s: ERROR without a message", path)
		}
		if hwm > maxChildRSSKB {
			t.Errorf("worker peak RSS %d KB > %d KB", hwm, maxChildRSSKB)
		}
	}
	id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "after", "content": "The worker process still ingests ordinary documents after the hostile ones."})
	h.ready(ws, agent, id, 1)
}
