package outbound

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Message limits per platform, in UTF-16 code units (Telegram counts text length that way;
// for the others, which count characters, a UTF-16 count is never lower).
const (
	TelegramMaxLen  = 4096
	WhatsAppMaxLen  = 4096
	MessengerMaxLen = 2000
	SlackMaxLen     = 40000
	// SMSMaxSegments is how many segments one Twilio message may take here. Twilio
	// concatenates up to 1,600 characters, but carriers drop or reorder long concatenations
	// and every segment is billed; 10 segments is Twilio's own recommendation.
	SMSMaxSegments = 10
)

// SMS segment sizes: a single message, and each part of a concatenated one (the user data
// header takes 7 septets or 3 UCS-2 characters).
const (
	gsmSingle  = 160
	gsmMulti   = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

// Split cuts text into the messages a channel type sends, in order. Text that fits is one
// part, unchanged; longer text is cut at the last paragraph break, line break, sentence end
// or space of each window (whitespace at a cut is dropped), and hard-cut between runes
// only when a window has no space at all. Whitespace-only text gives no part. EMAIL and
// unknown types are never split. The result is deterministic, which a resumed send relies on.
func Split(channelType, text string) []string {
	switch channelType {
	case Telegram:
		return splitText(text, TelegramMaxLen, utf16Len)
	case WhatsApp:
		return splitText(text, WhatsAppMaxLen, utf16Len)
	case Messenger:
		return splitText(text, MessengerMaxLen, utf16Len)
	case Slack:
		return splitText(text, SlackMaxLen, utf16Len)
	case SMS:
		if strings.TrimSpace(text) == "" {
			return nil
		}
		if n, _ := SMSSegments(text); n <= SMSMaxSegments {
			return []string{text}
		}
		// A 2-unit character (a GSM escape pair, a UTF-16 surrogate pair) is never split
		// across segments, so each of the 9 boundaries may waste one unit: this many units
		// always fit in SMSMaxSegments whatever the text.
		if isGSM(text) {
			return splitText(text, SMSMaxSegments*gsmMulti-(SMSMaxSegments-1), gsmLen)
		}
		return splitText(text, SMSMaxSegments*ucs2Multi-(SMSMaxSegments-1), utf16Len)
	}
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return []string{text}
}

// SMSSegments returns how many SMS segments text takes and whether it needs UCS-2 (any
// character outside the GSM-7 default alphabet and its extension table). GSM-7: 160
// septets in one segment, else 153 per segment, an extension character (^ { } \ [ ] ~ |
// € and form feed) taking 2 septets that are never split. UCS-2: 70 UTF-16 units in one
// segment, else 67 per segment, a surrogate pair never split. Empty text takes 0 segments.
func SMSSegments(text string) (segments int, ucs2 bool) {
	if text == "" {
		return 0, false
	}
	single, multi, cost := gsmSingle, gsmMulti, gsmLen
	if !isGSM(text) {
		ucs2 = true
		single, multi, cost = ucs2Single, ucs2Multi, utf16Len
	}
	total := 0
	for _, r := range text {
		total += cost(r)
	}
	if total <= single {
		return 1, ucs2
	}
	segments, used := 1, 0
	for _, r := range text {
		c := cost(r)
		if used+c > multi {
			segments++
			used = 0
		}
		used += c
	}
	return segments, ucs2
}

// gsmBasic is the GSM 03.38 default alphabet (without the escape code); gsmExt is its
// extension table, each of whose characters is sent as escape + character.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExt = "\f^{}\\[~]|€"
)

var gsmBasicSet, gsmExtSet = runeSet(gsmBasic), runeSet(gsmExt)

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool, len(s))
	for _, r := range s {
		m[r] = true
	}
	return m
}

// isGSM reports whether every character of s is in the GSM-7 alphabet or its extension.
func isGSM(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return false
			}
		}
		if !gsmBasicSet[r] && !gsmExtSet[r] {
			return false
		}
	}
	return true
}

// gsmLen is a GSM-7 character's size in septets.
func gsmLen(r rune) int {
	if gsmExtSet[r] {
		return 2
	}
	return 1
}

// utf16Len is a character's size in UTF-16 code units (an invalid byte counts as U+FFFD).
func utf16Len(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// splitText cuts text into parts of at most limit units (cost per rune). See Split.
func splitText(text string, limit int, cost func(rune) int) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if measure(text, cost) <= limit {
		return []string{text}
	}
	var parts []string
	rest := strings.TrimLeftFunc(text, unicode.IsSpace)
	for rest != "" {
		if measure(rest, cost) <= limit {
			parts = append(parts, strings.TrimRightFunc(rest, unicode.IsSpace))
			break
		}
		end, used := 0, 0
		for i, r := range rest {
			c := cost(r)
			if used+c > limit {
				end = i
				break
			}
			used += c
		}
		if end == 0 { // a limit below one character: take one character anyway
			_, end = utf8.DecodeRuneInString(rest)
		}
		cut := breakPoint(rest, end)
		parts = append(parts, strings.TrimRightFunc(rest[:cut], unicode.IsSpace))
		rest = strings.TrimLeftFunc(rest[cut:], unicode.IsSpace)
	}
	return parts
}

func measure(s string, cost func(rune) int) int {
	n := 0
	for _, r := range s {
		n += cost(r)
	}
	return n
}

// breakPoint returns where to end a part that must stop at or before rest[:end]: the last
// paragraph break, else line break, else sentence end in the second half of the window;
// else its last space; else end, moved back so that a combining mark, variation selector,
// skin-tone modifier or zero-width joiner stays with the character it belongs to.
func breakPoint(rest string, end int) int {
	w := rest[:end]
	half := len(w) / 2
	if i := max(strings.LastIndex(w, "\n\n"), strings.LastIndex(w, "\n\r\n")); i > half {
		return i
	}
	if i := strings.LastIndexByte(w, '\n'); i > half {
		return i
	}
	if i := lastSentenceEnd(w); i > half {
		return i
	}
	if i := strings.LastIndexFunc(w, unicode.IsSpace); i > 0 {
		return i
	}
	cut := end
	for cut > 0 {
		next, _ := utf8.DecodeRuneInString(rest[cut:])
		prev, size := utf8.DecodeLastRuneInString(rest[:cut])
		if !clings(next) && prev != zwj {
			break
		}
		cut -= size
	}
	if cut == 0 { // one unbreakable cluster longer than the limit
		return end
	}
	return cut
}

// lastSentenceEnd returns the index just after the last sentence-ending punctuation that is
// followed by a space (or is CJK full-width punctuation), or -1.
func lastSentenceEnd(w string) int {
	at := -1
	prevEnd := -1 // index after a '.', '!', '?' or '…' seen just before
	for i, r := range w {
		switch {
		case r == '.' || r == '!' || r == '?' || r == '…':
			prevEnd = i + utf8.RuneLen(r)
			continue
		case r == '。' || r == '！' || r == '？':
			at = i + utf8.RuneLen(r)
		case unicode.IsSpace(r) && prevEnd == i:
			at = i
		}
		prevEnd = -1
	}
	return at
}

// clings reports whether r belongs to the character before it: a combining mark, a
// variation selector, an emoji skin-tone modifier or a zero-width joiner.
func clings(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me) || r == zwj ||
		(r >= 0xFE00 && r <= 0xFE0F) || (r >= 0x1F3FB && r <= 0x1F3FF)
}

const zwj = 0x200D
