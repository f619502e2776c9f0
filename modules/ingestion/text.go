package ingestion

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// cleanText makes extracted text safe to store: valid UTF-8, no NUL bytes (Postgres text
// cannot hold them), Unix line ends.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// textBlocks splits plain text or Markdown into paragraphs (separated by blank lines). In
// Markdown, ATX headings ("# Title") become the heading of the paragraphs below them; the
// heading line itself is kept as text too, since it often carries the topic's words.
func textBlocks(s string, markdown bool) []block {
	s = cleanText(s)
	var out []block
	heading := ""
	var para []string
	flush := func() {
		if len(para) > 0 {
			t := strings.TrimSpace(strings.Join(para, "\n"))
			if t != "" {
				out = append(out, block{Text: t, Heading: heading})
			}
		}
		para = para[:0]
	}
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			flush()
			continue
		}
		if markdown {
			if h, ok := markdownHeading(t); ok {
				flush()
				heading = h
				out = append(out, block{Text: h, Heading: h})
				continue
			}
		}
		para = append(para, t)
	}
	flush()
	return out
}

// markdownHeading recognises "# Heading" … "###### Heading".
func markdownHeading(line string) (string, bool) {
	n := 0
	for n < len(line) && n < 6 && line[n] == '#' {
		n++
	}
	if n == 0 || n >= len(line) || line[n] != ' ' {
		return "", false
	}
	h := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(line[n:]), "#"))
	return h, h != ""
}

// csvBlocks turns a CSV file into one block per row, each row as "header: value" lines
// (empty cells are left out). The first row is the header; columns without a header are
// named "column N".
func csvBlocks(data []byte) ([]block, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF")) // a UTF-8 BOM would stick to the first header
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = false
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, permanentf("The CSV file could not be read: %v", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(cleanText(header[i]))
	}
	var out []block
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, permanentf("The CSV file could not be read: %v", err)
		}
		var b strings.Builder
		for i, v := range rec {
			v = strings.TrimSpace(cleanText(v))
			if v == "" {
				continue
			}
			name := ""
			if i < len(header) {
				name = header[i]
			}
			if name == "" {
				name = "column " + strconv.Itoa(i+1)
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(name + ": " + v)
		}
		if b.Len() > 0 {
			out = append(out, block{Text: b.String()})
		}
	}
	return out, nil
}
