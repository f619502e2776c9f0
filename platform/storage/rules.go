package storage

import (
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxUploadBytes is the largest file a client may upload: 25 MB.
const MaxUploadBytes int64 = 25 << 20

// PresignTTL is how long a presigned upload URL stays valid (15 minutes).
const PresignTTL = 900 * time.Second

// maxFilenameBytes bounds the client-supplied filename.
const maxFilenameBytes = 255

// fileType is one allowed kind of upload.
type fileType struct {
	ext          string   // canonical extension, without the dot
	exts         []string // every accepted extension, without the dot
	contentTypes []string // every accepted media type; the first is canonical
}

// allowedTypes lists the uploads the API accepts: PDF, TXT, MD, DOCX, HTML
// and CSV.
var allowedTypes = []fileType{
	{ext: "pdf", exts: []string{"pdf"}, contentTypes: []string{"application/pdf"}},
	{ext: "txt", exts: []string{"txt"}, contentTypes: []string{"text/plain"}},
	{ext: "md", exts: []string{"md"}, contentTypes: []string{"text/markdown", "text/x-markdown"}},
	{ext: "docx", exts: []string{"docx"}, contentTypes: []string{"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}},
	{ext: "html", exts: []string{"html", "htm"}, contentTypes: []string{"text/html"}},
	{ext: "csv", exts: []string{"csv"}, contentTypes: []string{"text/csv"}},
}

// typeByExt finds the allowed type of a lower-case extension without the dot.
func typeByExt(ext string) (fileType, bool) {
	for _, t := range allowedTypes {
		for _, e := range t.exts {
			if e == ext {
				return t, true
			}
		}
	}
	return fileType{}, false
}

// typeByContentType finds the allowed type of a lower-case media type
// without parameters.
func typeByContentType(mediaType string) (fileType, bool) {
	for _, t := range allowedTypes {
		for _, ct := range t.contentTypes {
			if ct == mediaType {
				return t, true
			}
		}
	}
	return fileType{}, false
}

// ContentTypeForExt returns the canonical media type of an allowed extension
// (with or without the leading dot, any case), for example "application/pdf"
// for "pdf". It reports false for any other extension.
func ContentTypeForExt(ext string) (string, bool) {
	t, ok := typeByExt(strings.ToLower(strings.TrimPrefix(ext, ".")))
	if !ok {
		return "", false
	}
	return t.contentTypes[0], true
}

// ValidateUpload checks a client's upload request against the upload rules
// (types and size above) and returns the canonical extension (without the dot) to build the
// storage key with: "pdf", "txt", "md", "docx", "html" (also for .htm) or
// "csv".
//
// The content type may carry parameters ("text/plain; charset=utf-8") and is
// compared without them and case-insensitively. The filename's extension must
// belong to the same type as the content type. The errors wrap ErrInvalid for
// an empty filename, a filename with path separators, control characters or
// invalid UTF-8, a missing or unparsable content type and a size ≤ 0;
// ErrUnsupportedType for a type or extension that is not allowed or that do
// not match each other; and ErrTooLarge for a size above MaxUploadBytes.
func ValidateUpload(filename, contentType string, size int64) (ext string, err error) {
	if err := checkFilename(filename); err != nil {
		return "", err
	}
	if size <= 0 {
		return "", fmt.Errorf("%w: size must be a positive number of bytes", ErrInvalid)
	}
	if size > MaxUploadBytes {
		return "", fmt.Errorf("%w: %d bytes is above the limit of %d bytes", ErrTooLarge, size, MaxUploadBytes)
	}
	if strings.TrimSpace(contentType) == "" {
		return "", fmt.Errorf("%w: content type is required", ErrInvalid)
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: content type %q cannot be parsed", ErrInvalid, contentType)
	}
	byType, ok := typeByContentType(mediaType) // ParseMediaType lower-cases it.
	if !ok {
		return "", fmt.Errorf("%w: content type %q is not allowed (PDF, TXT, MD, DOCX, HTML, CSV)", ErrUnsupportedType, mediaType)
	}
	dot := strings.LastIndexByte(filename, '.')
	if dot < 0 || dot == len(filename)-1 {
		return "", fmt.Errorf("%w: filename %q has no extension", ErrUnsupportedType, filename)
	}
	fileExt := strings.ToLower(filename[dot+1:])
	byExt, ok := typeByExt(fileExt)
	if !ok {
		return "", fmt.Errorf("%w: extension .%s is not allowed (PDF, TXT, MD, DOCX, HTML, CSV)", ErrUnsupportedType, fileExt)
	}
	if byExt.ext != byType.ext {
		return "", fmt.Errorf("%w: extension .%s does not match content type %q", ErrUnsupportedType, fileExt, mediaType)
	}
	return byType.ext, nil
}

// checkFilename rejects filenames that cannot be a plain file name.
func checkFilename(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: filename is required", ErrInvalid)
	case len(name) > maxFilenameBytes:
		return fmt.Errorf("%w: filename is longer than %d bytes", ErrInvalid, maxFilenameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: filename is not valid UTF-8", ErrInvalid)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w: filename must not contain a path", ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("%w: filename %q is not a file name", ErrInvalid, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: filename contains control characters", ErrInvalid)
		}
	}
	return nil
}
