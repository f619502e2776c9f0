package ingestion

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Chunk sizes in words: window and overlap per document type (docs/performance.md has
// the measurement that kept 512/64 for long text).
var chunkSizes = map[string][2]int{
	TypeText:    {512, 64},
	TypePDF:     {512, 64},
	TypeFile:    {512, 64},
	TypeURL:     {400, 50},
	TypeSitemap: {400, 50},
	TypeYouTube: {300, 40},
}

// minChunkChars: chunks of this many characters or fewer carry no knowledge and are
// dropped.
const minChunkChars = 20

// recipeVersion names the extraction and chunking recipe. It is part of the content hash,
// so changing the recipe makes the next reindex re-embed instead of skipping.
const recipeVersion = "ingest-v2"

// embeddingInput is what is embedded for a chunk: the document's title and the chunk's
// section heading (when it has one and it is not the title), each on a line, then the
// text. A chunk that never names its topic ("It is free within 30 days.") still matches a
// question on the section's subject. The stored content stays the text alone.
func embeddingInput(title string, c chunk) string {
	var b strings.Builder
	title = strings.TrimSpace(title)
	if title != "" {
		b.WriteString(title + "\n")
	}
	if h := strings.TrimSpace(c.Heading); h != "" && !strings.EqualFold(h, title) {
		b.WriteString(h + "\n")
	}
	b.WriteString(c.Text)
	return b.String()
}

// block is one piece of extracted text with where it came from. Blocks are joined with a
// line break inside a chunk, or with a space when both are inline (transcript segments).
type block struct {
	Text    string
	Page    int    // PDF page, 1-based; 0 when not applicable
	Heading string // nearest heading above the block
	URL     string // page the block came from (URL, SITEMAP, YOUTUBE with timestamp)
	Group   int    // chunks never span two groups (sitemap pages)
	Inline  bool
}

// chunk is one piece of a document, embedded and stored as a knowledge_chunks row.
type chunk struct {
	Text    string
	Page    int
	Heading string
	URL     string
}

// metadataJSON is the chunk's jsonb metadata: page, heading and url when known.
func (c chunk) metadataJSON() (string, error) {
	m := map[string]any{}
	if c.Page > 0 {
		m["page"] = c.Page
	}
	if c.Heading != "" {
		m["heading"] = c.Heading
	}
	if c.URL != "" {
		m["url"] = c.URL
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// word is one whitespace-separated token, the block it came from and whether it starts
// a line inside that block.
type word struct {
	text    string
	block   int32
	newLine bool
}

// chunkBlocks splits blocks into windows of size words that overlap by overlap words,
// never across groups. Words keep their line breaks; blocks are joined by a line break. A chunk's metadata is that of the block holding its first word.
// Chunks of minChunkChars characters or fewer are dropped.
func chunkBlocks(blocks []block, size, overlap int) []chunk {
	var out []chunk
	for start := 0; start < len(blocks); {
		end := start + 1
		for end < len(blocks) && blocks[end].Group == blocks[start].Group {
			end++
		}
		out = append(out, chunkGroup(blocks, start, end, size, overlap)...)
		start = end
	}
	return out
}

// chunkGroup chunks blocks[from:to]. The word list is sized up front and each chunk's text
// is built in one allocation: a 200-chunk document is ~90,000 words, and growing the list
// and the builders by doubling was most of the chunker's time and garbage
// (docs/performance.md, "Ingestion throughput").
func chunkGroup(blocks []block, from, to, size, overlap int) []chunk {
	n := 0
	for i := from; i < to; i++ {
		// Spaces and line breaks bound the word count of ordinary text from above; other
		// separators only make the list grow once more.
		n += strings.Count(blocks[i].Text, " ") + strings.Count(blocks[i].Text, "\n") + 1
	}
	words := make([]word, 0, n)
	for i := from; i < to; i++ {
		l := 0
		for line := range strings.SplitSeq(blocks[i].Text, "\n") {
			j := 0
			for w := range strings.FieldsSeq(line) {
				words = append(words, word{text: w, block: int32(i), newLine: l > 0 && j == 0})
				j++
			}
			l++
		}
	}
	step := max(1, size-overlap)
	var out []chunk
	for start := 0; start < len(words); start += step {
		end := min(start+size, len(words))
		chars := end - start - 1 // separators
		for i := start; i < end; i++ {
			chars += len(words[i].text)
		}
		var b strings.Builder
		b.Grow(chars)
		for i := start; i < end; i++ {
			if i > start {
				prev, cur := words[i-1].block, words[i].block
				switch {
				case prev != cur && (!blocks[prev].Inline || !blocks[cur].Inline), prev == cur && words[i].newLine:
					b.WriteByte('\n')
				default:
					b.WriteByte(' ')
				}
			}
			b.WriteString(words[i].text)
		}
		first := blocks[words[start].block]
		c := chunk{Text: b.String(), Page: first.Page, Heading: first.Heading, URL: first.URL}
		if utf8.RuneCountInString(c.Text) > minChunkChars {
			out = append(out, c)
		}
		if end == len(words) {
			break
		}
	}
	return out
}

// qaPair is one question and its answer.
type qaPair struct {
	Q, A string
}

// parseQA reads "Q: …" / "A: …" pairs ("Question:" and "Answer:" work too, in any case).
// A line without a prefix continues the question or answer above it; text before the
// first question and questions without an answer are ignored.
func parseQA(s string) []qaPair {
	var pairs []qaPair
	var cur *qaPair
	inAnswer := false
	flush := func() {
		if cur != nil {
			cur.Q, cur.A = strings.TrimSpace(cur.Q), strings.TrimSpace(cur.A)
			if cur.Q != "" && cur.A != "" {
				pairs = append(pairs, *cur)
			}
		}
		cur = nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if rest, ok := cutPrefixFold(t, "q:", "question:"); ok {
			flush()
			cur = &qaPair{Q: rest}
			inAnswer = false
			continue
		}
		if rest, ok := cutPrefixFold(t, "a:", "answer:"); ok && cur != nil {
			if inAnswer {
				cur.A += "\n" + rest
			} else {
				cur.A = rest
			}
			inAnswer = true
			continue
		}
		if cur == nil || t == "" {
			continue
		}
		if inAnswer {
			cur.A += "\n" + t
		} else {
			cur.Q += " " + t
		}
	}
	flush()
	return pairs
}

func cutPrefixFold(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return strings.TrimSpace(s[len(p):]), true
		}
	}
	return "", false
}

// blockChunks makes each block one chunk (QA: one pair per chunk, "Q: …\nA: …");
// blocks of minChunkChars characters or fewer are dropped.
func blockChunks(blocks []block) []chunk {
	var out []chunk
	for _, b := range blocks {
		if utf8.RuneCountInString(b.Text) > minChunkChars {
			out = append(out, chunk{Text: b.Text, Page: b.Page, Heading: b.Heading, URL: b.URL})
		}
	}
	return out
}

// contentHash is the sha256 of everything that determines a document's chunks and
// vectors: the recipe version, the embedding model, the document type and the extracted
// blocks with their metadata.
func contentHash(model, docType string, blocks []block) string {
	h := sha256.New()
	for _, s := range []string{recipeVersion, model, docType} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, b := range blocks {
		h.Write([]byte(b.Text))
		h.Write([]byte{0x1f})
		h.Write([]byte(strconv.Itoa(b.Page) + "\x1f" + b.Heading + "\x1f" + b.URL + "\x1f" + strconv.Itoa(b.Group)))
		if b.Inline {
			h.Write([]byte{1})
		}
		h.Write([]byte{0x1e})
	}
	return hex.EncodeToString(h.Sum(nil))
}
