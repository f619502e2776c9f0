package outbound

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSMSSegments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		text     string
		segments int
		ucs2     bool
	}{
		{"empty", "", 0, false},
		{"one GSM char", "a", 1, false},
		{"160 GSM chars", strings.Repeat("a", 160), 1, false},
		{"161 GSM chars", strings.Repeat("a", 161), 2, false},
		{"306 GSM chars", strings.Repeat("a", 306), 2, false},
		{"307 GSM chars", strings.Repeat("a", 307), 3, false},
		{"1530 GSM chars", strings.Repeat("a", 1530), 10, false},
		{"û is not GSM", "Ça coûte 5€", 1, true},
		{"GSM accents", "Ça va à Zürich? ñ ß É Ø Å", 1, false},
		{"80 extension chars = 160 septets", strings.Repeat("€", 80), 1, false},
		{"81 extension chars", strings.Repeat("{", 81), 2, false},
		{"159 + one extension char", strings.Repeat("a", 159) + "^", 2, false},
		// 152 septets then an escape pair: the pair does not fit the 153rd septet and moves.
		{"escape pair never split", strings.Repeat("a", 152) + "|" + strings.Repeat("a", 152), 3, false},
		{"one emoji is UCS-2", "Thanks 👍", 1, true},
		{"70 UCS-2 chars", strings.Repeat("я", 70), 1, true},
		{"71 UCS-2 chars", strings.Repeat("я", 71), 2, true},
		{"134 UCS-2 chars", strings.Repeat("я", 134), 2, true},
		{"135 UCS-2 chars", strings.Repeat("я", 135), 3, true},
		{"35 emoji = 70 units", strings.Repeat("😀", 35), 1, true},
		// 66 units then a surrogate pair: the pair moves to the next segment.
		{"surrogate pair never split", strings.Repeat("я", 66) + "😀" + strings.Repeat("я", 66), 3, true},
		{"smart quote forces UCS-2", strings.Repeat("a", 100) + "’", 2, true},
		{"invalid UTF-8 is UCS-2", "ab\xffcd", 1, true},
	}
	for _, tc := range cases {
		n, ucs2 := SMSSegments(tc.text)
		if n != tc.segments || ucs2 != tc.ucs2 {
			t.Errorf("%s: SMSSegments = %d, ucs2 %v; want %d, %v", tc.name, n, ucs2, tc.segments, tc.ucs2)
		}
	}
}

func TestSplitBoundaries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "  hello world  ", 20, []string{"  hello world  "}},
		{"whitespace only", " \n\t ", 20, nil},
		{"paragraph first", "First para one.\n\nSecond para two. More", 30, []string{"First para one.", "Second para two. More"}},
		{"line break", "aaaa bbbb cccc\ndddd eeee", 20, []string{"aaaa bbbb cccc", "dddd eeee"}},
		{"sentence end", "One two three. Four five six seven", 24, []string{"One two three.", "Four five six seven"}},
		{"word", "alpha beta gamma delta", 12, []string{"alpha beta", "gamma delta"}},
		{"early paragraph loses to a later space", "Hi.\n\nalpha beta gamma delta", 20, []string{"Hi.\n\nalpha beta", "gamma delta"}},
		{"hard cut on runes", "ééééééééé", 4, []string{"éééé", "éééé", "é"}},
		{"combining mark stays", "abcde\u0301fgh", 5, []string{"abcd", "e\u0301fgh"}},
		{"zwj sequence stays", "ab👨\u200d👩xyz", 5, []string{"ab", "👨\u200d👩", "xyz"}},
		{"CJK sentence end", "你好世界。今天天气很好", 8, []string{"你好世界。", "今天天气很好"}},
	}
	for _, tc := range cases {
		got := splitText(tc.text, tc.limit, utf16Len)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: splitText = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSplitLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Lorem ipsum dolor sit amet, consectetur 😀 adipiscing. ", 1000)
	for _, tc := range []struct {
		channel string
		max     int
	}{{Telegram, 4096}, {WhatsApp, 4096}, {Messenger, 2000}, {Slack, 40000}} {
		parts := Split(tc.channel, long)
		if len(parts) < 2 {
			t.Fatalf("%s: %d parts", tc.channel, len(parts))
		}
		checkParts(t, tc.channel, long, parts, func(p string) bool { return measure(p, utf16Len) <= tc.max })
	}
	for _, text := range []string{
		strings.Repeat("Hello there, how are you? ", 200),
		strings.Repeat("{x} ", 2000),
		strings.Repeat("Привет, как дела? ", 200),
		strings.Repeat("😀", 2000),
		strings.Repeat("€", 3000),
	} {
		parts := Split(SMS, text)
		if len(parts) < 2 {
			t.Fatalf("SMS: %d parts for %d bytes", len(parts), len(text))
		}
		checkParts(t, "SMS", text, parts, func(p string) bool { n, _ := SMSSegments(p); return n <= SMSMaxSegments })
	}
	if got := Split(SMS, strings.Repeat("a", 1530)); len(got) != 1 {
		t.Errorf("a 10-segment SMS was split into %d", len(got))
	}
	if got := Split(Email, strings.Repeat("a", 100000)); len(got) != 1 {
		t.Errorf("e-mail split into %d", len(got))
	}
}

// checkParts checks that parts are valid UTF-8, non-empty, fit, and rebuild text up to
// whitespace at the cuts.
func checkParts(t *testing.T, name, text string, parts []string, fits func(string) bool) {
	t.Helper()
	for i, p := range parts {
		if p == "" || !utf8.ValidString(p) && utf8.ValidString(text) {
			t.Errorf("%s part %d: empty or broken UTF-8", name, i)
		}
		if !fits(p) {
			t.Errorf("%s part %d: does not fit (%d bytes)", name, i, len(p))
		}
	}
	squash := func(s string) string { return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), "") }
	if squash(strings.Join(parts, "")) != squash(text) {
		t.Errorf("%s: parts do not rebuild the text", name)
	}
}

// FuzzSplit checks the invariants of splitText on any input: every part fits, no part is
// empty, parts are cut on rune boundaries, and they rebuild the text up to whitespace.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "a b c", "héllo wörld. Again!\n\nNew para", "😀😀😀 x", "ab\xff\xfecd ef", "e\u0301\u0301\u0301"} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, text string, limit int) {
		limit = 2 + abs(limit)%50
		parts := splitText(text, limit, utf16Len)
		squash := func(s string) string { return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), "") }
		joined := ""
		for i, p := range parts {
			if strings.TrimSpace(p) == "" {
				t.Fatalf("part %d is blank", i)
			}
			if len(parts) > 1 && measure(p, utf16Len) > limit {
				t.Fatalf("part %d measures %d > %d", i, measure(p, utf16Len), limit)
			}
			if !strings.Contains(text, p) {
				t.Fatalf("part %d is not a piece of the text", i)
			}
			joined += squash(p) // per part: two invalid bytes side by side could form a rune
		}
		if joined != squash(text) {
			t.Fatalf("parts %q do not rebuild %q", parts, text)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
