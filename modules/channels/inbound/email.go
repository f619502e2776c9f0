package inbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// Bounds of the e-mail parser.
const (
	// emailScanRunes is how much of an e-mail's text is read for the customer's new words
	// (the quoted history after them is cut, then the rest is capped at MaxTextRunes).
	emailScanRunes = 64 * 1024
	// emailMaxParts is the most multipart parts read; attachments count.
	emailMaxParts = 256
	// emailMaxField caps one form field read into memory.
	emailMaxField = 1 << 20
	// emailMaxHeaders is the most header entries looked at for Message-ID and Date.
	emailMaxHeaders = 500
	// htmlMaxTokens bounds the HTML tokenizer's work.
	htmlMaxTokens = 200_000
	// emailMaxAddrBytes caps an address header before it is parsed.
	emailMaxAddrBytes = 4096
)

// VerifyKey checks the e-mail webhook's ?key= against the channel's key in constant time.
// An empty want never verifies; a mismatch is ErrSignature.
func VerifyKey(given, want string) error {
	if !equalSecret(given, want) {
		return ErrSignature
	}
	return nil
}

// email is one inbound e-mail as a provider described it, before cleaning.
type email struct {
	from, to, subject, text, html, messageID, date string
}

// emailJSON is the JSON shape of inbound e-mail webhooks: {from, to, subject, text, html,
// messageId, date, headers} (Resend-like, optionally inside {"type":…, "data":{…}}) or
// Postmark's {From, FromFull, To, Subject, TextBody, HtmlBody, Date, Headers:[{Name,
// Value}]}. encoding/json matches keys case-insensitively.
type emailJSON struct {
	Data      *emailJSON      `json:"data"`
	From      json.RawMessage `json:"from"`
	FromFull  json.RawMessage `json:"FromFull"`
	To        json.RawMessage `json:"to"`
	Subject   string          `json:"subject"`
	Text      string          `json:"text"`
	TextBody  string          `json:"TextBody"`
	HTML      string          `json:"html"`
	HTMLBody  string          `json:"HtmlBody"`
	MessageID string          `json:"messageId"`
	MsgID     string          `json:"message_id"`
	Date      string          `json:"date"`
	Headers   json.RawMessage `json:"headers"`
}

// ParseEmail returns the customer message of an inbound e-mail webhook, given as JSON
// (see emailJSON) or as form fields, multipart or URL-encoded (SendGrid Inbound Parse:
// from, to, subject, text, html, headers; Mailgun: from, recipient, subject,
// stripped-text, body-plain, body-html, Message-Id, Date, message-headers). The text is the
// plain text (Mailgun's stripped-text first), else the HTML converted to text; the quoted
// previous message ("On … wrote:", lines starting with ">", "-----Original Message-----",
// an Outlook "From:/Sent:" block, the "-- " signature) is cut so the customer's new words
// remain; an e-mail with no new words gives none. From is the lower-cased sender
// address, Name its display name, ID and Thread the Message-ID ("<…>"; when absent, ID is
// "sha256:" of from, date, subject and text and Thread is ""). A body that is neither
// shape, or a sender that is not an address, is malformed.
func ParseEmail(contentType string, body []byte) ([]Message, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = ""
	}
	var e email
	switch {
	case mediaType == "application/json" || (mediaType == "" && jsonObject(body)):
		e, err = emailFromJSON(body)
	case mediaType == "multipart/form-data":
		e, err = emailFromMultipart(body, params["boundary"])
	case mediaType == "application/x-www-form-urlencoded":
		var form url.Values
		form, err = url.ParseQuery(string(body))
		if err != nil {
			return nil, malformed("email", "form body is not URL-encoded")
		}
		e = emailFromForm(func(k string) string { return form.Get(k) })
	default:
		return nil, malformed("email", "content type is not JSON or form data")
	}
	if err != nil {
		return nil, err
	}
	return e.message()
}

func emailFromJSON(body []byte) (email, error) {
	if !jsonObject(body) {
		return email{}, malformed("email", "body is not a JSON object")
	}
	var j emailJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return email{}, malformed("email", "body is not an inbound e-mail")
	}
	if len(j.From) == 0 && len(j.FromFull) == 0 && j.Data != nil {
		j = *j.Data // {"type":"email.received","data":{…}}
	}
	e := email{
		from:      jsonAddress(j.FromFull),
		to:        jsonAddress(j.To),
		subject:   j.Subject,
		text:      first(j.Text, j.TextBody),
		html:      first(j.HTML, j.HTMLBody),
		messageID: first(j.MessageID, j.MsgID),
		date:      j.Date,
	}
	if e.from == "" {
		e.from = jsonAddress(j.From)
	}
	hdrID, hdrDate := jsonHeaders(j.Headers)
	e.messageID = first(hdrID, e.messageID) // the RFC header beats a provider's own id
	e.date = first(e.date, hdrDate)
	return e, nil
}

// jsonAddress reads an address given as "Name <a@b>", {email|address, name} or a list of
// either (the first).
func jsonAddress(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s) // a bad string gives "", which is caught as no sender
		return s
	case '{':
		var a struct {
			Email   string `json:"email"`
			Address string `json:"address"`
			Name    string `json:"name"`
		}
		_ = json.Unmarshal(raw, &a)
		addr := first(a.Email, a.Address)
		if addr == "" {
			return ""
		}
		if a.Name == "" {
			return addr
		}
		return (&mail.Address{Name: a.Name, Address: addr}).String()
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil || len(list) == 0 || bytes.HasPrefix(bytes.TrimSpace(list[0]), []byte("[")) {
			return ""
		}
		return jsonAddress(list[0])
	}
	return ""
}

// jsonHeaders finds Message-ID and Date in headers given as [{name, value}], as
// {"Name": "value"} or as the raw header block.
func jsonHeaders(raw json.RawMessage) (messageID, date string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", ""
	}
	h := headerFinder{}
	switch raw[0] {
	case '[':
		var list []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		if json.Unmarshal(raw, &list) == nil {
			for i, kv := range list {
				if i >= emailMaxHeaders {
					break
				}
				h.see(kv.Name, kv.Value)
			}
		}
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			for k, v := range m {
				var s string
				if json.Unmarshal(v, &s) == nil {
					h.see(k, s)
				}
			}
		}
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			h.block(s)
		}
	}
	return h.messageID, h.date
}

// headerFinder keeps the first Message-ID and Date it is shown.
type headerFinder struct {
	messageID, date string
}

func (h *headerFinder) see(name, value string) {
	switch {
	case strings.EqualFold(name, "Message-ID") && h.messageID == "":
		h.messageID = value
	case strings.EqualFold(name, "Date") && h.date == "":
		h.date = value
	}
}

// block reads a raw header block ("Name: value" lines, continuation lines ignored).
func (h *headerFinder) block(s string) {
	for i, line := range strings.SplitN(s, "\n", emailMaxHeaders+1) {
		if i >= emailMaxHeaders {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && !strings.ContainsAny(name, " \t") {
			h.see(name, strings.TrimSpace(value))
		}
	}
}

// emailFields are the form fields read; everything else (attachments, SPF results,
// envelope) is skipped unread.
var emailFields = map[string]bool{
	"from": true, "to": true, "recipient": true, "subject": true, "text": true,
	"body-plain": true, "stripped-text": true, "html": true, "body-html": true,
	"message-id": true, "date": true, "headers": true, "message-headers": true,
}

func emailFromMultipart(body []byte, boundary string) (email, error) {
	if boundary == "" {
		return email{}, malformed("email", "multipart body has no boundary")
	}
	fields := map[string]string{}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for n := 0; ; n++ {
		if n >= emailMaxParts {
			return email{}, malformed("email", "too many multipart parts")
		}
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return email{}, malformed("email", "multipart body is not well formed")
		}
		name := strings.ToLower(part.FormName())
		if part.FileName() != "" || !emailFields[name] {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, emailMaxField))
		if err != nil {
			return email{}, malformed("email", "multipart body is not well formed")
		}
		if _, seen := fields[name]; !seen {
			fields[name] = string(data)
		}
	}
	return emailFromForm(func(k string) string { return fields[strings.ToLower(k)] }), nil
}

// emailFromForm reads SendGrid's and Mailgun's inbound field names.
func emailFromForm(get func(string) string) email {
	e := email{
		from:      get("from"),
		to:        first(get("to"), get("recipient")),
		subject:   get("subject"),
		text:      first(get("stripped-text"), get("text"), get("body-plain")),
		html:      first(get("html"), get("body-html")),
		messageID: get("Message-Id"),
		date:      get("Date"),
	}
	h := headerFinder{}
	if raw := get("headers"); raw != "" { // SendGrid: the raw header block
		h.block(raw)
	}
	if raw := get("message-headers"); raw != "" { // Mailgun: JSON [[name, value], …]
		var pairs [][]string
		if json.Unmarshal([]byte(raw), &pairs) == nil {
			for i, kv := range pairs {
				if i >= emailMaxHeaders {
					break
				}
				if len(kv) == 2 {
					h.see(kv[0], kv[1])
				}
			}
		}
	}
	e.messageID = first(e.messageID, h.messageID)
	e.date = first(e.date, h.date)
	return e
}

// message turns the provider's fields into the Message.
func (e *email) message() ([]Message, error) {
	var c collector
	addr, name, ok := parseSender(e.from)
	if !ok {
		return nil, malformed("email", "from is not an e-mail address")
	}
	raw := e.text
	if strings.TrimSpace(raw) == "" && e.html != "" {
		raw = htmlToText(e.html, emailScanRunes*4)
	}
	full := cleanText(raw, emailScanRunes)
	text := cleanText(stripQuoted(full), MaxTextRunes)
	if text == "" {
		return c.result(), nil
	}
	subject := cleanLine(decodeHeader(e.subject), MaxSubjectRunes)
	msgID := normalizeMessageID(e.messageID)
	id, thread := msgID, msgID
	if msgID == "" {
		sum := sha256.Sum256([]byte(addr + "\n" + cleanLine(e.date, MaxFieldBytes) + "\n" + subject + "\n" + full))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	to, _, _ := parseSender(e.to)
	c.add(Message{
		ID:      id,
		From:    addr,
		Name:    cleanLine(name, MaxNameRunes),
		Text:    text,
		Thread:  thread,
		Subject: subject,
		To:      to,
	})
	return c.result(), nil
}

// parseSender reads the first address of an address header: the lower-cased address and
// the display name. It reports false when there is no usable address.
func parseSender(s string) (addr, name string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > emailMaxAddrBytes {
		return "", "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		list, lerr := mail.ParseAddressList(s)
		if lerr == nil && len(list) > 0 {
			a, err = list[0], nil
		} else if lt, gt := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>'); lt >= 0 && gt > lt {
			// A display name this parser refuses (an unknown charset, stray quotes): keep the
			// address between the brackets, and the name as written.
			a, err = mail.ParseAddress(s[lt : gt+1])
			if err == nil {
				a.Name = strings.Trim(strings.TrimSpace(s[:lt]), `"`)
			}
		}
	}
	if err != nil || a == nil {
		return "", "", false
	}
	addr = strings.ToLower(a.Address)
	if len(addr) > 254 || !strings.Contains(addr, "@") {
		return "", "", false
	}
	addr, ok = cleanAddr(addr)
	return addr, decodeHeader(a.Name), ok
}

// decodeHeader decodes RFC 2047 encoded words; it returns s when it cannot.
func decodeHeader(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// normalizeMessageID returns the id as "<…>" (one line, at most MaxFieldBytes), or "".
func normalizeMessageID(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxFieldBytes-2 {
		return ""
	}
	s = cleanLine(s, MaxFieldBytes)
	if strings.ContainsAny(s, " \t\uFFFD") {
		return ""
	}
	if !strings.HasPrefix(s, "<") {
		s = "<" + s
	}
	if !strings.HasSuffix(s, ">") {
		s += ">"
	}
	if len(s) <= 2 {
		return ""
	}
	return s
}

// stripQuoted cuts the quoted previous message from a reply: it stops at the first line
// that introduces a quote ("On … wrote:" on one or two lines and its French, German and
// Spanish forms, "-----Original Message-----", an Outlook "From:" followed by "Sent:" or
// "Date:", Outlook's line of underscores, the "-- " signature separator) and drops lines
// starting with ">" (so inline answers between quotes are kept).
func stripQuoted(text string) string {
	lines := strings.Split(text, "\n")
	kept := make([]string, 0, len(lines))
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, ">") {
			continue
		}
		next := ""
		if i+1 < len(lines) {
			next = strings.TrimSpace(lines[i+1])
		}
		if quoteHeader(t, next) || line == "-- " || line == "--" {
			break
		}
		kept = append(kept, line)
	}
	return strings.TrimSpace(strings.Join(kept, "\n"))
}

// quoteHeader reports whether line (with the next line) introduces quoted text.
func quoteHeader(line, next string) bool {
	if len(line) > 400 {
		return false
	}
	if strings.Contains(line, "-----Original Message-----") ||
		strings.Contains(line, "-----Ursprüngliche Nachricht-----") ||
		strings.Contains(line, "-----Message d'origine-----") {
		return true
	}
	if len(line) >= 10 && strings.Trim(line, "_") == "" && strings.HasPrefix(next, "From:") {
		return true
	}
	if strings.HasPrefix(line, "From:") && (strings.HasPrefix(next, "Sent:") || strings.HasPrefix(next, "Date:")) {
		return true
	}
	for _, f := range [...]struct{ prefix, suffix string }{
		{"On ", "wrote:"},
		{"Le ", "a écrit :"},
		{"Le ", "a écrit:"},
		{"Am ", "schrieb:"},
		{"El ", "escribió:"},
	} {
		if !strings.HasPrefix(line, f.prefix) {
			continue
		}
		if strings.HasSuffix(line, f.suffix) {
			return true
		}
		// Mail clients wrap a long attribution line once.
		if len(next) <= 200 && strings.HasSuffix(next, f.suffix) && !strings.HasPrefix(next, f.prefix) {
			return true
		}
	}
	return false
}

// htmlToText extracts the readable text of an HTML e-mail with x/net/html's tokenizer (no
// tree, bounded by htmlMaxTokens and maxBytes of output): block elements and <br> become
// line breaks, white space collapses, script, style, title, template and blockquote (the
// quoted previous message) are left out, entities are decoded.
func htmlToText(s string, maxBytes int) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0      // depth inside elements whose text is left out
	space := false // white space was seen since the last word
	atLineStart := func() bool {
		str := b.String()
		return str == "" || strings.HasSuffix(str, "\n")
	}
	newline := func() {
		space = false
		if str := b.String(); str != "" && !strings.HasSuffix(str, "\n\n") {
			b.WriteByte('\n')
		}
	}
	for n := 0; n < htmlMaxTokens && b.Len() < maxBytes; n++ {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := z.Text()
			if len(text) > 0 && isSpace(text[0]) {
				space = true
			}
			for _, word := range strings.Fields(string(text)) {
				if space && !atLineStart() {
					b.WriteByte(' ')
				}
				b.WriteString(word)
				space = true
			}
			space = len(text) > 0 && isSpace(text[len(text)-1])
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "title", "template", "blockquote":
				if string(name) == "blockquote" && skip == 0 {
					newline()
				}
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case "br":
				b.WriteByte('\n')
				space = false
			case "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
				"hr", "pre", "section", "article", "header", "footer":
				newline()
			}
		}
	}
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// first returns the first non-blank value.
func first(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
