package ingestion

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ledongthuc/pdf"
)

// maxDocxXML bounds the decompressed word/document.xml, so a zip bomb cannot exhaust
// memory.
const maxDocxXML = 64 << 20

// pdfMagic starts every PDF file (within its first 1024 bytes, per the specification).
const pdfMagic = "%PDF-"

// looksLikePDF reports whether head (the first bytes of a file) holds the PDF header.
func looksLikePDF(head []byte) bool {
	return bytes.Contains(head[:min(len(head), 1024)], []byte(pdfMagic))
}

// zipMagic starts every DOCX (a zip archive).
const zipMagic = "PK\x03\x04"

// pdfBlocks extracts the text of every page, one block per page. A file the PDF reader
// cannot parse, an encrypted one, or one that makes the reader panic is a permanent
// "could not read PDF" error.
func pdfBlocks(data []byte) (blocks []block, err error) {
	defer func() {
		if p := recover(); p != nil {
			blocks, err = nil, &ingestError{msg: "Could not read PDF: the file is damaged or uses unsupported features", permanent: true, cause: fmt.Errorf("pdf panic: %v", p)}
		}
	}()
	if !looksLikePDF(data) {
		return nil, permanentf("Could not read PDF: the file is not a PDF")
	}
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		msg := "Could not read PDF: the file is damaged"
		if strings.Contains(strings.ToLower(err.Error()), "encrypt") || strings.Contains(strings.ToLower(err.Error()), "password") {
			msg = "Could not read PDF: the file is encrypted"
		}
		return nil, &ingestError{msg: msg, permanent: true, cause: err}
	}
	fonts := map[string]*pdf.Font{}
	n := r.NumPage()
	for i := 1; i <= n; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		for _, name := range p.Fonts() {
			if _, ok := fonts[name]; !ok {
				f := p.Font(name)
				fonts[name] = &f
			}
		}
		text, err := p.GetPlainText(fonts)
		if err != nil {
			return nil, &ingestError{msg: fmt.Sprintf("Could not read PDF: page %d is damaged", i), permanent: true, cause: err}
		}
		text = strings.TrimSpace(cleanText(text))
		if text != "" {
			blocks = append(blocks, block{Text: text, Page: i})
		}
	}
	return blocks, nil
}

// docxBlocks extracts the paragraphs of word/document.xml; paragraphs styled as headings
// ("Heading1", "Title", …) become the heading metadata of those below them.
func docxBlocks(data []byte) ([]block, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, &ingestError{msg: "Could not read DOCX: the file is not a valid Word document", permanent: true, cause: err}
	}
	var doc *zip.File
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			doc = f
			break
		}
	}
	if doc == nil {
		return nil, permanentf("Could not read DOCX: word/document.xml is missing")
	}
	rc, err := doc.Open()
	if err != nil {
		return nil, &ingestError{msg: "Could not read DOCX: the file is damaged", permanent: true, cause: err}
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, maxDocxXML))
	var (
		out     []block
		para    strings.Builder
		inText  bool
		style   string
		heading string
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &ingestError{msg: "Could not read DOCX: the document XML is damaged", permanent: true, cause: err}
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
				if text == "" {
					continue
				}
				if s := strings.ToLower(style); strings.HasPrefix(s, "heading") || s == "title" {
					heading = strings.Join(strings.Fields(text), " ")
				}
				out = append(out, block{Text: text, Heading: heading})
			}
		case xml.CharData:
			if inText {
				para.Write(t)
			}
		}
	}
	return out, nil
}
