package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateUpload(t *testing.T) {
	t.Parallel()
	const docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	tests := []struct {
		name        string
		filename    string
		contentType string
		size        int64
		wantExt     string
		wantErr     error
	}{
		{"pdf", "manual.pdf", "application/pdf", 1024, "pdf", nil},
		{"txt with charset", "notes.txt", "text/plain; charset=utf-8", 10, "txt", nil},
		{"md", "README.md", "text/markdown", 10, "md", nil},
		{"md x-markdown", "README.MD", "text/x-markdown", 10, "md", nil},
		{"docx", "Policy v2.docx", docx, 10, "docx", nil},
		{"html", "page.html", "text/html", 10, "html", nil},
		{"htm canonicalised", "page.HTM", "TEXT/HTML", 10, "html", nil},
		{"csv", "faq.csv", "text/csv", 10, "csv", nil},
		{"exactly max", "big.pdf", "application/pdf", MaxUploadBytes, "pdf", nil},
		{"unicode name", "Préface – été.txt", "text/plain", 1, "txt", nil},

		{"wrong type", "image.png", "image/png", 10, "", ErrUnsupportedType},
		{"exe as octet", "run.exe", "application/octet-stream", 10, "", ErrUnsupportedType},
		{"allowed type, bad ext", "manual.exe", "application/pdf", 10, "", ErrUnsupportedType},
		{"mismatched ext", "notes.pdf", "text/plain", 10, "", ErrUnsupportedType},
		{"mismatched ext 2", "sheet.csv", "text/html", 10, "", ErrUnsupportedType},
		{"no ext", "manual", "application/pdf", 10, "", ErrUnsupportedType},
		{"trailing dot", "manual.", "application/pdf", 10, "", ErrUnsupportedType},
		{"old doc", "old.doc", "application/msword", 10, "", ErrUnsupportedType},

		{"over size", "big.pdf", "application/pdf", MaxUploadBytes + 1, "", ErrTooLarge},
		{"zero size", "empty.pdf", "application/pdf", 0, "", ErrInvalid},
		{"negative size", "neg.pdf", "application/pdf", -1, "", ErrInvalid},
		{"empty filename", "", "application/pdf", 10, "", ErrInvalid},
		{"blank filename", "   ", "application/pdf", 10, "", ErrInvalid},
		{"path in filename", "../etc/x.pdf", "application/pdf", 10, "", ErrInvalid},
		{"windows path", `C:\fakepath\x.pdf`, "application/pdf", 10, "", ErrInvalid},
		{"control char", "a\x00.pdf", "application/pdf", 10, "", ErrInvalid},
		{"too long", strings.Repeat("a", 300) + ".pdf", "application/pdf", 10, "", ErrInvalid},
		{"bad utf8", "a\xff.pdf", "application/pdf", 10, "", ErrInvalid},
		{"missing content type", "a.pdf", "", 10, "", ErrInvalid},
		{"garbled content type", "a.pdf", "application/pdf; ===", 10, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ext, err := ValidateUpload(tt.filename, tt.contentType, tt.size)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ValidateUpload(%q, %q, %d) = %v, want ok", tt.filename, tt.contentType, tt.size, err)
				}
				if ext != tt.wantExt {
					t.Fatalf("ext = %q, want %q", ext, tt.wantExt)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidateUpload(%q, %q, %d) = %q, %v; want %v", tt.filename, tt.contentType, tt.size, ext, err, tt.wantErr)
			}
			if ext != "" {
				t.Fatalf("ext = %q on error, want empty", ext)
			}
		})
	}
}

func TestContentTypeForExt(t *testing.T) {
	t.Parallel()
	for ext, want := range map[string]string{
		"pdf": "application/pdf", ".md": "text/markdown", "HTM": "text/html", "csv": "text/csv",
	} {
		got, ok := ContentTypeForExt(ext)
		if !ok || got != want {
			t.Errorf("ContentTypeForExt(%q) = %q, %v; want %q", ext, got, ok, want)
		}
	}
	if _, ok := ContentTypeForExt("exe"); ok {
		t.Error("ContentTypeForExt(exe) reported ok")
	}
}
