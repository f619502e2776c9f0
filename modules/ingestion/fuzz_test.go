package ingestion

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The parsers that run in the extraction child. Under `go test` the seeds run as normal
// tests; `go test -fuzz FuzzExtractDOCX ./modules/ingestion/` (one target at a time)
// explores further. Each must return blocks of clean text or an error, never panic.

// checkBlock fails on text that could not be stored (invalid UTF-8, NUL bytes).
func checkBlock(t *testing.T, b block) error {
	if !utf8.ValidString(b.Text) || strings.ContainsRune(b.Text, 0) || !utf8.ValidString(b.Heading) {
		t.Fatalf("block with unstorable text: %q", b.Text)
	}
	return nil
}

func FuzzExtractDOCX(f *testing.F) {
	f.Add(makeDOCX("Install &amp; setup", "Step one.", "Step two."))
	f.Add(makeDOCX("Title", "Tabs\tand <w:br/> breaks"))
	f.Add([]byte("PK\x03\x04 not really"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = docxStream(data, func(b block) error { return checkBlock(t, b) })
	})
}

func FuzzExtractHTML(f *testing.F) {
	f.Add([]byte(`<html><head><title>T</title></head><body><main><h1>H</h1><p>Text <b>bold</b></p></main></body></html>`))
	f.Add([]byte(`<article><p>a</p></article><article><h2>x</h2><p>longer text here</p></article>`))
	f.Add([]byte(strings.Repeat("<div>", 300) + "deep" + strings.Repeat("</div>", 300)))
	f.Add([]byte(`<p>unclosed<li>item<table><tr><td>cell</table></b></i><script>x()</script>`))
	f.Add([]byte("\x00<\xff>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, title := htmlBlocks(data, "https://example.com/")
		if !utf8.ValidString(title) {
			t.Fatalf("title %q", title)
		}
		for _, b := range blocks {
			_ = checkBlock(t, b) // it fails the test itself
		}
		// Capping the depth never loses text of a shallow page.
		if capped := capHTMLDepth(data); len(capped) > len(data) {
			t.Fatalf("capHTMLDepth grew the page from %d to %d bytes", len(data), len(capped))
		}
	})
}

func FuzzExtractCSV(f *testing.F) {
	f.Add([]byte("\xEF\xBB\xBFname,\"city, country\",\nAda,\"London, UK\",x\nBob,,\n"))
	f.Add([]byte("a,b\n\"unterminated,quote\n1,2\n"))
	f.Add([]byte("only header\n"))
	f.Add([]byte("x\r\ny\r\n\x00,\xff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = csvStream(bytes.NewReader(data), func(b block) error { return checkBlock(t, b) })
	})
}

func FuzzExtractText(f *testing.F) {
	f.Add([]byte("# Setup\r\n\r\nPlug it in.\nWait.\n\n## Reset ##\nHold the button.\x00"), true)
	f.Add([]byte("plain\n\n\ntext"), false)
	f.Add([]byte("#\n# \n####### seven"), true)
	f.Fuzz(func(t *testing.T, data []byte, markdown bool) {
		for _, b := range textBlocks(string(data), markdown) {
			_ = checkBlock(t, b) // it fails the test itself
		}
	})
}

// FuzzExtractPDF runs pdftotext (in this process's child, without the sandbox's limits:
// fuzzing inputs are small) on each input.
func FuzzExtractPDF(f *testing.F) {
	if _, err := exec.LookPath(pdftotext); err != nil {
		f.Skip("pdftotext is not installed (scripts/setup.sh installs poppler-utils)")
	}
	f.Add(makePDF("First page about invoices.", "Second page about refunds."))
	f.Add(xrefBombPDF())
	f.Add([]byte("%PDF-1.4\nno objects\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pages := 0
		_, _ = pdfStream(ctx, bytes.NewReader(data), func(b block) error {
			pages++
			if b.Page != pages && b.Page <= pages {
				t.Fatalf("page %d after %d pages", b.Page, pages)
			}
			return checkBlock(t, b)
		})
	})
}

// FuzzChildOutput feeds arbitrary bytes to the parent's reader of the child's output: a
// compromised child can make its own document fail, nothing more.
func FuzzChildOutput(f *testing.F) {
	f.Add([]byte(`{"t":"a","p":1,"h":"H"}` + "\n" + `{"done":true,"note":"n","peakRssKB":1}` + "\n"))
	f.Add([]byte(`{"t":` + "\n"))
	f.Add([]byte(strings.Repeat(`{"t":"x"}`+"\n", 100)))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, _, overflow, _ := readChild(bytes.NewReader(data), 1<<10)
		if overflow && blocks != nil {
			t.Fatal("blocks returned with an overflow")
		}
	})
}
