package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestVerifyKey(t *testing.T) {
	t.Parallel()
	const key = "b1946ac92492d2347c6235b4d2611184a3c0f1e2d3c4b5a6978877665544332211"
	cases := []struct {
		name, given, want string
		err               error
	}{
		{"valid", key, key, nil},
		{"wrong", key[:len(key)-1] + "0", key, ErrSignature},
		{"missing", "", key, ErrSignature},
		{"empty key never verifies", "", "", ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := VerifyKey(tc.given, tc.want); !errors.Is(err, tc.err) {
				t.Fatalf("VerifyKey = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestParseEmail(t *testing.T) {
	t.Parallel()
	const inbox = "support@inbound.axon.test"
	hashID := func(parts ...string) string {
		sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	cases := []struct {
		name, contentType string
		body              []byte
		want              []Message
		err               error
	}{
		{"postmark json, quoted reply cut", "application/json", fixture(t, "email_postmark.json"), []Message{{
			ID: "<CAE5xq=abc123@mail.gmail.com>", From: "jane.doe@example.com", Name: "Jane Doe",
			Text:   "Thanks, but the refund has not arrived yet.\nCan you check again?",
			Thread: "<CAE5xq=abc123@mail.gmail.com>", Subject: "Re: Your refund", To: "support+k9@inbound.axon.test",
		}}, nil},
		{"resend envelope, encoded subject, signature cut", "application/json; charset=utf-8", fixture(t, "email_resend.json"), []Message{{
			ID: "<20250801204532.1234@example.de>", From: "joerg@example.de", Name: "Müller, Jörg",
			Text: "Where can I download my invoice?", Thread: "<20250801204532.1234@example.de>", Subject: "Rechnung für Juli", To: inbox,
		}}, nil},
		{"html only, no message id", "application/json", fixture(t, "email_html_only.json"), []Message{{
			ID:   hashID("bob@example.org", "Mon, 28 Jul 2025 11:00:00 +0000", "Login problem", "I can't log in & the reset link is broken.\nPlease help!\n\nOn Mon, Jul 28, 2025 at 10:00 AM Acme <support@acme.test> wrote:"),
			From: "bob@example.org", Text: "I can't log in & the reset link is broken.\nPlease help!", Subject: "Login problem", To: inbox,
		}}, nil},
		{"sendgrid multipart, outlook quote cut, attachment skipped", "multipart/form-data; boundary=xYzZY", fixture(t, "email_sendgrid.multipart"), []Message{{
			ID: "<sg-1@mail.example.net>", From: "kim@example.net", Name: "Kim Park", Text: "My order 5531 arrived damaged.",
			Thread: "<sg-1@mail.example.net>", Subject: "Order 5531", To: inbox,
		}}, nil},
		{"mailgun form, stripped-text", "application/x-www-form-urlencoded", fixture(t, "email_mailgun.form"), []Message{{
			ID: "<CAF=mailgun.1@mail.example.com>", From: "sam@example.com", Name: "Sam Lee", Text: "Do you offer annual plans?",
			Thread: "<CAF=mailgun.1@mail.example.com>", Subject: "Question about pricing", To: inbox,
		}}, nil},
		{
			"mailgun body-plain with a wrapped attribution", "application/x-www-form-urlencoded",
			[]byte("from=sam%40example.com&subject=Q&Message-Id=abc%40x&body-plain=" + strings.ReplaceAll("Do you offer annual plans?%0D%0A%0D%0AOn Tue, Jul 29, 2025 at 3:04 PM Acme Support <support@acme.test>%0D%0Awrote:%0D%0A> Hi Sam", " ", "+")),
			[]Message{{ID: "<abc@x>", From: "sam@example.com", Text: "Do you offer annual plans?", Thread: "<abc@x>", Subject: "Q"}},
			nil,
		},
		{
			"inline answers between quotes kept", "application/json",
			[]byte(`{"from":"a@b.co","subject":"s","messageId":"<m1@b.co>","text":"> Which plan?\nPro\n> Since when?\nMarch"}`),
			[]Message{{ID: "<m1@b.co>", From: "a@b.co", Text: "Pro\nMarch", Thread: "<m1@b.co>", Subject: "s"}},
			nil,
		},
		{
			"from object, to list", "application/json",
			[]byte(`{"from":{"email":"Lee@Example.com","name":"Lee"},"to":[{"email":"support@inbound.axon.test"}],"subject":"hi","text":"hello","headers":{"Message-ID":"<h1@example.com>"}}`),
			[]Message{{ID: "<h1@example.com>", From: "lee@example.com", Name: "Lee", Text: "hello", Thread: "<h1@example.com>", Subject: "hi", To: inbox}},
			nil,
		},
		{
			"subject with header injection", "application/json",
			[]byte(`{"from":"a@b.co","subject":"hi\r\nBcc: victim@x.test","text":"hello","messageId":"<m2@b.co>"}`),
			[]Message{{ID: "<m2@b.co>", From: "a@b.co", Text: "hello", Thread: "<m2@b.co>", Subject: "hi Bcc: victim@x.test"}},
			nil,
		},
		{"only quoted text", "application/json", []byte(`{"from":"a@b.co","subject":"s","text":"On Mon, Jan 1, 2024 at 9:00 AM X <x@y.z> wrote:\n> old"}`), []Message{}, nil},
		{"empty body", "application/json", []byte(`{"from":"a@b.co","subject":"s","text":"","html":""}`), []Message{}, nil},
		{"json without content type", "", []byte(`{"from":"a@b.co","text":"hi","messageId":"<m3@b.co>"}`), []Message{{ID: "<m3@b.co>", From: "a@b.co", Text: "hi", Thread: "<m3@b.co>"}}, nil},
		{"from not an address", "application/json", []byte(`{"from":"not an address","text":"hi"}`), nil, ErrMalformed},
		{"no from", "application/json", []byte(`{"text":"hi"}`), nil, ErrMalformed},
		{"bad json", "application/json", []byte(`{"from":`), nil, ErrMalformed},
		{"json array", "application/json", []byte(`[{"from":"a@b.co"}]`), nil, ErrMalformed},
		{"multipart without boundary", "multipart/form-data", fixture(t, "email_sendgrid.multipart"), nil, ErrMalformed},
		{"multipart with wrong boundary", "multipart/form-data; boundary=other", fixture(t, "email_sendgrid.multipart"), nil, ErrMalformed},
		{"bad form escape", "application/x-www-form-urlencoded", []byte(`from=%zz`), nil, ErrMalformed},
		{"plain text body", "text/plain", []byte(`hello`), nil, ErrMalformed},
		{"too many parts", "multipart/form-data; boundary=b", []byte(strings.Repeat("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n", emailMaxParts+1) + "--b--\r\n"), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEmail(tc.contentType, tc.body)
			checkMessages(t, got, err)
			assertParsed(t, got, err, tc.want, tc.err)
		})
	}
}

func TestStripQuoted(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"gmail", "Yes please.\n\nOn Mon, 3 Mar 2025 at 10:00, Acme <s@a.co> wrote:\n> Shall we?", "Yes please."},
		{"outlook separator", "Fine.\n________________________________\nFrom: Acme\nSent: Monday", "Fine."},
		{"outlook header block", "Fine.\n\nFrom: Acme Support <s@a.co>\nDate: Monday\nSubject: x", "Fine."},
		{"original message", "Fine.\n-----Original Message-----\nold", "Fine."},
		{"french", "Merci.\nLe lun. 3 mars 2025 à 10:00, Acme <s@a.co> a écrit :\n> old", "Merci."},
		{"german", "Danke.\nAm Mo., 3. März 2025 um 10:00 Uhr schrieb Acme <s@a.co>:\n> old", "Danke.\nAm Mo., 3. März 2025 um 10:00 Uhr schrieb Acme <s@a.co>:"},
		{"german with schrieb:", "Danke.\nAm 3. März 2025 schrieb:\n> old", "Danke."},
		{"signature", "Thanks\n-- \nJane\nCEO", "Thanks"},
		{"not an attribution", "On Monday I ordered a lamp.\nIt broke.", "On Monday I ordered a lamp.\nIt broke."},
		{"a From: line in the text", "From: my home address to the office.\nHow much?", "From: my home address to the office.\nHow much?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := stripQuoted(tc.in); got != tc.want {
				t.Fatalf("stripQuoted = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"inline and blocks", "<p>Hello <b>world</b>,</p><p>second&nbsp;para<br>line</p>", "Hello world,\n\nsecond para\nline"},
		{"script and style skipped", "<style>x{}</style>a<script>if (a < b) { alert(1) }</script>b", "ab"},
		{"blockquote skipped", "new<blockquote>old<blockquote>older</blockquote>still old</blockquote>after", "new\nafter"},
		{"unclosed tags", "<div><p>text<b>bold", "textbold"},
		{"entities", "&lt;tag&gt; &amp; &#169;", "<tag> & ©"},
		{"not html", "just text", "just text"},
		{"broken markup", "<<<>>>a<!-- c -->b</p></p></div>", "<<<>>>ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := cleanText(htmlToText(tc.in, 1<<20), MaxTextRunes); got != tc.want {
				t.Fatalf("htmlToText = %q, want %q", got, tc.want)
			}
		})
	}
}
