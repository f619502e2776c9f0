package ingestion

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// maxDocxXML bounds the decompressed word/document.xml, so a zip bomb cannot exhaust
// memory: past it the document fails as too large.
const maxDocxXML = 64 << 20

// PDF limits: pages past pdfMaxPages are not read (the document is READY with a note);
// one page's text is at most pdfMaxPageBytes.
const (
	pdfMaxPages     = 500
	pdfMaxPageBytes = 8 << 20
)

// pdfMagic starts every PDF file (within its first 1024 bytes, per the specification).
const pdfMagic = "%PDF-"

// looksLikePDF reports whether head (the first bytes of a file) holds the PDF header.
func looksLikePDF(head []byte) bool {
	return bytes.Contains(head[:min(len(head), 1024)], []byte(pdfMagic))
}

// zipMagic starts every DOCX (a zip archive).
const zipMagic = "PK\x03\x04"

// pdftotext is the Poppler command that extracts a PDF's text (see docs/decisions.md,
// "PDF text: Poppler's pdftotext").
var pdftotext = "pdftotext"

// pdfBlocks extracts a PDF's text with pdftotext, one block per page (see pdfStream).
func pdfBlocks(ctx context.Context, data []byte) ([]block, string, error) {
	var out []block
	note, err := pdfStream(ctx, bytes.NewReader(data), func(b block) error {
		out = append(out, b)
		return nil
	})
	return out, note, err
}

// pdfStream runs pdftotext on the PDF read from src and hands add one block per page with
// text, page by page as pdftotext writes them (it ends each page with a form feed). Only
// the first pdfMaxPages pages are read; the returned note says so when the file has more.
// It runs in the extraction child, whose limits pdftotext inherits. An unreadable file
// is a permanent "Could not read PDF" error; a missing pdftotext is a transient one.
func pdfStream(ctx context.Context, src io.Reader, add func(block) error) (note string, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One page more than the limit tells whether the file has more pages.
	cmd := exec.CommandContext(cctx, pdftotext, "-enc", "UTF-8", "-eol", "unix", "-l", strconv.Itoa(pdfMaxPages+1), "-", "-")
	cmd.Stdin = src
	var stderr capBuffer
	stderr.max = 16 << 10
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", transient(err, "PDF text extraction is not available on this server (pdftotext could not be started)")
	}
	r := bufio.NewReaderSize(out, 64<<10)
	var page bytes.Buffer
	pageNo, more := 1, false
	var addErr error
	for {
		chunk, rerr := r.ReadSlice('\f')
		page.Write(bytes.TrimSuffix(chunk, []byte("\f")))
		if page.Len() > pdfMaxPageBytes {
			addErr = permanentf("Could not read PDF: page %d holds more than %d MB of text", pageNo, pdfMaxPageBytes>>20)
			break
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if rerr == nil { // a form feed: the page is complete
			if pageNo > pdfMaxPages {
				more = true
				break
			}
			if text := strings.TrimSpace(cleanText(page.String())); text != "" {
				if addErr = add(block{Text: text, Page: pageNo}); addErr != nil {
					break
				}
			}
			page.Reset()
			pageNo++
			continue
		}
		break // EOF or a read error: what is left is not a complete page
	}
	if addErr != nil || more {
		cancel() // stop pdftotext; its exit status no longer matters
		_, _ = io.Copy(io.Discard, r)
		_ = cmd.Wait()
		if more {
			return fmt.Sprintf("Only the first %d pages of the PDF were read", pdfMaxPages), nil
		}
		return "", addErr
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.ToLower(stderr.String())
		var ee *exec.ExitError
		switch {
		case strings.Contains(msg, "password") || strings.Contains(msg, "encrypt") || (errors.As(err, &ee) && ee.ExitCode() == 3):
			return "", &ingestError{msg: "Could not read PDF: the file is encrypted", permanent: true, cause: err}
		case strings.Contains(msg, "alloc") || strings.Contains(msg, "out of memory"):
			return "", &ingestError{msg: childMemoryMsg, permanent: true, cause: err}
		}
		return "", &ingestError{msg: "Could not read PDF: the file is damaged", permanent: true, cause: fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))}
	}
	return "", nil
}

// capBuffer keeps the first max bytes written to it and drops the rest.
type capBuffer struct {
	bytes.Buffer
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// docxBlocks extracts the paragraphs of a DOCX (see docxStream).
func docxBlocks(data []byte) ([]block, error) {
	var out []block
	err := docxStream(data, func(b block) error {
		out = append(out, b)
		return nil
	})
	return out, err
}

// errXMLTooLarge ends the decoding of a document.xml that inflates past maxDocxXML.
var errXMLTooLarge = errors.New("document.xml too large")

// sizeLimitReader fails with errXMLTooLarge once more than max bytes were read.
type sizeLimitReader struct {
	r   io.Reader
	max int64
	n   int64
}

func (l *sizeLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return 0, errXMLTooLarge
	}
	return n, err
}

// docxStream decodes word/document.xml token by token and hands add each paragraph as
// it ends; paragraphs styled as headings ("Heading1", "Title", …) become the heading
// metadata of those below them. A document.xml that inflates past maxDocxXML is a
// permanent "too large" error.
func docxStream(data []byte, add func(block) error) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return &ingestError{msg: "Could not read DOCX: the file is not a valid Word document", permanent: true, cause: err}
	}
	var doc *zip.File
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			doc = f
			break
		}
	}
	if doc == nil {
		return permanentf("Could not read DOCX: word/document.xml is missing")
	}
	if doc.UncompressedSize64 > maxDocxXML {
		return docxTooLarge()
	}
	rc, err := doc.Open()
	if err != nil {
		return &ingestError{msg: "Could not read DOCX: the file is damaged", permanent: true, cause: err}
	}
	defer rc.Close()
	// The declared size may lie: the reader counts what is actually inflated.
	dec := xml.NewDecoder(bufio.NewReaderSize(&sizeLimitReader{r: rc, max: maxDocxXML}, 64<<10))
	var (
		para    strings.Builder
		inText  bool
		style   string
		heading string
	)
	for {
		tok, err := dec.RawToken() // no namespace bookkeeping: only local names matter
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, errXMLTooLarge) {
			return docxTooLarge()
		}
		if err != nil {
			return &ingestError{msg: "Could not read DOCX: the document XML is damaged", permanent: true, cause: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "p":
				para.Reset()
				style = ""
			case "pStyle":
				for _, a := range t.Attr {
					if a.Name.Local == "val" {
						style = a.Value
					}
				}
			case "t":
				inText = true
			case "tab":
				para.WriteByte('\t')
			case "br", "cr":
				para.WriteByte('\n')
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				text := strings.TrimSpace(cleanText(para.String()))
				para.Reset()
				if text == "" {
					continue
				}
				if s := strings.ToLower(style); strings.HasPrefix(s, "heading") || s == "title" {
					heading = strings.Join(strings.Fields(text), " ")
				}
				if err := add(block{Text: text, Heading: heading}); err != nil {
					return err
				}
			}
		case xml.CharData:
			if inText {
				para.Write(t)
			}
		}
	}
}

func docxTooLarge() error {
	return permanentf("Could not read DOCX: the document is too large (its text part inflates past %d MB)", maxDocxXML>>20)
}
