// Package pdftest builds small, valid PDF documents for tests and evaluations of the
// extraction pipeline.
package pdftest

import (
	"bytes"
	"fmt"
	"strings"
)

// Make builds a small valid PDF with one page per text (Helvetica, wrapped at about 12
// words a line), with a correct cross-reference table; Poppler's pdftotext reads it back.
func Make(pages ...string) []byte {
	var objs []string
	// 1: catalog, 2: pages, 3: font, then per page: page object and content stream.
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	objs = append(objs,
		"<< /Type /Catalog /Pages 2 0 R >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	)
	for i, text := range pages {
		var content strings.Builder
		content.WriteString("BT /F1 11 Tf 14 TL 50 780 Td\n")
		ws := strings.Fields(text)
		for start := 0; start < len(ws); start += 12 {
			line := strings.Join(ws[start:min(start+12, len(ws))], " ")
			line = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(line)
			fmt.Fprintf(&content, "(%s ) Tj T*\n", line)
		}
		content.WriteString("ET")
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", content.Len(), content.String()),
		)
	}
	return Assemble(objs)
}

// Assemble writes objs as PDF objects 1…n (object 1 the catalog), with the header, the
// cross-reference table and the trailer: a file pdftotext reads.
func Assemble(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
