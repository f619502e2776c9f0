package ingestion

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
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

// maxCSVLine bounds one physical line of a CSV file, so that a file of one 50 MB line is
// refused after 1 MB instead of being read into memory whole.
const maxCSVLine = 1 << 20

// csvBlocks turns a CSV file into one block per row (see csvStream).
func csvBlocks(data []byte) ([]block, error) {
	var out []block
	err := csvStream(bytes.NewReader(data), func(b block) error {
		out = append(out, b)
		return nil
	})
	return out, err
}

// csvStream reads a CSV file row by row and hands each row to add as one block, as
// "header: value" lines (empty cells are left out). The first row is the header; columns
// without a header are named "column N". A line longer than maxCSVLine is an error; so is
// any error add returns, which stops the reading.
func csvStream(src io.Reader, add func(block) error) error {
	br := bufio.NewReader(&lineLimitReader{r: src, max: maxCSVLine})
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3) // a UTF-8 BOM would stick to the first header
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = false
	csvErr := func(err error) error {
		if errors.Is(err, errLineTooLong) {
			return permanentf("The CSV file could not be read: a line is longer than %d MB", maxCSVLine>>20)
		}
		return permanentf("The CSV file could not be read: %v", err)
	}
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return csvErr(err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(cleanText(header[i]))
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return csvErr(err)
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
			if err := add(block{Text: b.String()}); err != nil {
				return err
			}
		}
	}
}

var errLineTooLong = errors.New("line too long")

// lineLimitReader passes r through and fails with errLineTooLong once a line (bytes
// between two '\n') grows past max.
type lineLimitReader struct {
	r   io.Reader
	max int
	cur int // bytes of the current line so far
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			l.cur += n - i
			break
		}
		l.cur += j
		if l.cur > l.max {
			break
		}
		l.cur = 0
		i += j + 1
	}
	if l.cur > l.max {
		return 0, errLineTooLong
	}
	return n, err
}

// countWords counts whitespace-separated words without allocating.
func countWords(s string) int {
	n, in := 0, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}
