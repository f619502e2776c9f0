package ingestion

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped are elements whose content is never knowledge: code, styling, navigation,
// page chrome and forms.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Header: true, atom.Footer: true, atom.Aside: true, atom.Form: true,
	atom.Iframe: true, atom.Svg: true, atom.Canvas: true, atom.Button: true, atom.Select: true,
	atom.Textarea: true, atom.Object: true, atom.Embed: true, atom.Dialog: true, atom.Menu: true,
	atom.Head: true,
}

// skippedRoles are ARIA landmarks of page chrome.
var skippedRoles = map[string]bool{
	"navigation": true, "banner": true, "contentinfo": true, "complementary": true,
	"search": true, "dialog": true, "menu": true, "menubar": true,
}

// blockLevel elements end the current paragraph.
var blockLevel = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.Li: true, atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Dt: true, atom.Dd: true,
	atom.Table: true, atom.Tr: true, atom.Td: true, atom.Th: true, atom.Thead: true, atom.Tbody: true,
	atom.Blockquote: true, atom.Pre: true, atom.Br: true, atom.Hr: true, atom.Figure: true,
	atom.Figcaption: true, atom.Address: true, atom.Details: true, atom.Summary: true,
	atom.Caption: true, atom.Body: true,
}

func isHeading(a atom.Atom) bool {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

// htmlBlocks extracts the readable content of an HTML page: the text of <main> (or of the
// largest <article>, or of <body>) without scripts, styles, navigation, headers, footers,
// asides, forms and hidden elements, split into paragraphs. Headings become the heading
// metadata of the paragraphs below them (and stay in the text). The page's <title> is the
// heading of text before the first heading. It returns the blocks and the title.
//
// Elements nested deeper than maxHTMLDepth are flattened first (see capHTMLDepth), so that
// a hostile page cannot make the parser's work or the tree's depth grow without bound.
func htmlBlocks(data []byte, pageURL string) ([]block, string) {
	doc, err := html.Parse(bytes.NewReader(capHTMLDepth(data)))
	if err != nil {
		// html.Parse only fails on reader errors; a bytes.Reader has none.
		return nil, ""
	}
	title := strings.Join(strings.Fields(textOf(find(doc, atom.Title))), " ")
	root := find(doc, atom.Main)
	if root == nil {
		root = findRole(doc, "main")
	}
	if root == nil {
		root = largestArticle(doc)
	}
	if root == nil {
		root = find(doc, atom.Body)
	}
	if root == nil {
		root = doc
	}
	x := &htmlExtractor{heading: title, url: pageURL}
	x.walk(root)
	x.flush()
	return x.blocks, title
}

// maxHTMLDepth is the deepest element nesting kept; real pages stay far below it.
const maxHTMLDepth = 256

// voidElements never have content or an end tag.
var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true,
	atom.Hr: true, atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true,
	atom.Source: true, atom.Track: true, atom.Wbr: true, atom.Param: true, atom.Keygen: true,
}

// capHTMLDepth streams data through the HTML tokenizer and drops the start and end tags
// of elements that would open deeper than maxHTMLDepth, keeping their text. Depth is
// counted on the tags as written (an end tag closes up to its matching open element), so
// for well-formed pages nothing changes. Unclosed <p>/<li> only make the count higher,
// which at worst flattens markup, never text.
func capHTMLDepth(data []byte) []byte {
	z := html.NewTokenizer(bytes.NewReader(data))
	var out bytes.Buffer
	out.Grow(len(data))
	var open []string // names of the open elements that were kept
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out.Bytes()
		case html.StartTagToken:
			name, _ := z.TagName()
			if voidElements[atom.Lookup(name)] {
				break
			}
			if len(open) >= maxHTMLDepth {
				continue // dropped: deeper than the cap
			}
			open = append(open, string(name))
		case html.EndTagToken:
			name, _ := z.TagName()
			i := len(open) - 1
			for i >= 0 && open[i] != string(name) {
				i--
			}
			if i < 0 {
				if len(open) >= maxHTMLDepth {
					continue // the end of a dropped element
				}
				break // a stray end tag: the parser ignores it too
			}
			open = open[:i]
		}
		out.Write(z.Raw())
	}
}

type htmlExtractor struct {
	blocks  []block
	buf     strings.Builder
	heading string
	url     string
}

func (x *htmlExtractor) flush() {
	t := strings.Join(strings.Fields(cleanText(x.buf.String())), " ")
	x.buf.Reset()
	if t != "" {
		x.blocks = append(x.blocks, block{Text: t, Heading: x.heading, URL: x.url})
	}
}

func (x *htmlExtractor) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		x.buf.WriteString(n.Data)
		return
	case html.ElementNode:
		if hidden(n) {
			return
		}
		if isHeading(n.DataAtom) {
			x.flush()
			h := strings.Join(strings.Fields(cleanText(textOf(n))), " ")
			if h != "" {
				x.heading = h
				x.blocks = append(x.blocks, block{Text: h, Heading: h, URL: x.url})
			}
			return
		}
		if blockLevel[n.DataAtom] {
			x.flush()
			defer x.flush()
		}
	case html.CommentNode, html.DoctypeNode:
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		x.walk(c)
	}
}

// hidden reports elements that are skipped with their content.
func hidden(n *html.Node) bool {
	if skipped[n.DataAtom] {
		return true
	}
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(a.Val, "true") {
				return true
			}
		case "role":
			if skippedRoles[strings.ToLower(a.Val)] {
				return true
			}
		case "style":
			s := strings.ReplaceAll(strings.ToLower(a.Val), " ", "")
			if strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

// find returns the first element of type a in document order, outside skipped subtrees
// (a <main> inside a <nav> is not the page's main content).
func find(n *html.Node, a atom.Atom) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode {
		if n.DataAtom == a {
			return n
		}
		if a != atom.Title && hidden(n) {
			return nil
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if r := find(c, a); r != nil {
			return r
		}
	}
	return nil
}

func findRole(n *html.Node, role string) *html.Node {
	if n.Type == html.ElementNode {
		if hidden(n) {
			return nil
		}
		for _, a := range n.Attr {
			if strings.EqualFold(a.Key, "role") && strings.EqualFold(a.Val, role) {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if r := findRole(c, role); r != nil {
			return r
		}
	}
	return nil
}

// largestArticle returns the <article> with the most text, or nil.
func largestArticle(n *html.Node) *html.Node {
	var best *html.Node
	bestLen := 0
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if hidden(n) {
				return
			}
			if n.DataAtom == atom.Article {
				if l := len(strings.TrimSpace(textOf(n))); l > bestLen {
					best, bestLen = n, l
				}
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(n)
	return best
}

// textOf concatenates the text below n, outside hidden elements.
func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
			return
		}
		if n.Type == html.ElementNode && n.DataAtom != atom.Title && hidden(n) {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(n)
	return b.String()
}
