// Package secretbox encrypts small secrets at rest, such as channel and
// integration credentials, with AES-256-GCM and versioned keys
// (CHANNEL_ENCRYPTION_KEY, and CHANNEL_ENCRYPTION_KEY_OLD during a rotation).
//
// # Ciphertext
//
// Seal returns nonce || GCM(ciphertext || tag): a random 12-byte nonce
// followed by the sealed plaintext and its 16-byte authentication tag, so a
// ciphertext is 28 bytes longer than its plaintext. The caller stores the
// returned key version beside it (the key_version column) and passes both
// back to Open.
//
// # Key versions
//
// A key's version is derived from the key itself, not from its position in
// the configuration: it is the first 31 bits of
// HMAC-SHA256(key, "axon/secretbox/key-version"), read big-endian, so it is
// a positive number that fits a Postgres integer (0 is never used). A row
// therefore names the exact key that sealed it for as long as the row
// lives, whichever variable the key sits in; after a rotation ends and the
// old key is removed, nothing renumbers. The version reveals nothing useful
// about the key: it is a 31-bit MAC of a constant under a 256-bit key.
//
// # Rotation
//
//  1. Generate a new key; set CHANNEL_ENCRYPTION_KEY to it and
//     CHANNEL_ENCRYPTION_KEY_OLD to the previous key. Open accepts both;
//     Seal uses only the new one.
//  2. Re-seal every row for which NeedsRotation reports true (Reseal does
//     the Open + Seal).
//  3. Remove CHANNEL_ENCRYPTION_KEY_OLD.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// NonceSize is the length of the random nonce that starts every ciphertext.
const NonceSize = 12

// Overhead is how many bytes longer a ciphertext is than its plaintext.
const Overhead = NonceSize + 16

// versionLabel is the message whose MAC under a key gives the key's version.
const versionLabel = "axon/secretbox/key-version"

var (
	// ErrUnknownKeyVersion reports a ciphertext sealed with a key that is
	// neither the current nor the old key.
	ErrUnknownKeyVersion = errors.New("secretbox: unknown key version")
	// ErrDecrypt reports a ciphertext that is truncated, was modified, or
	// was not sealed with the key of the given version.
	ErrDecrypt = errors.New("secretbox: message authentication failed")
)

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	current key
	old     *key // nil outside a rotation
}

// key is one AES-256-GCM key and its version.
type key struct {
	version int
	aead    cipher.AEAD
}

// New returns a Box that seals with current and opens what current or old
// sealed. Both must be KeySize bytes; old may be nil or empty when no
// rotation is under way. An old key equal to current is ignored.
func New(current, old []byte) (*Box, error) {
	cur, err := newKey(current)
	if err != nil {
		return nil, fmt.Errorf("secretbox: current key: %w", err)
	}
	b := &Box{current: cur}
	if len(old) == 0 || subtle.ConstantTimeCompare(current, old) == 1 {
		return b, nil
	}
	o, err := newKey(old)
	if err != nil {
		return nil, fmt.Errorf("secretbox: old key: %w", err)
	}
	if o.version == cur.version {
		// Two different keys with the same 31-bit version: about one chance
		// in two billion. Refuse rather than open with the wrong key.
		return nil, errors.New("secretbox: old and current keys have the same version; generate another key")
	}
	b.old = &o
	return b, nil
}

// newKey validates raw and prepares its cipher.
func newKey(raw []byte) (key, error) {
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("want %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	return key{version: KeyVersion(raw), aead: aead}, nil
}

// KeyVersion returns the version of a key as described in the package
// documentation. It is exported so that operators and tests can tell which
// key sealed a row.
func KeyVersion(raw []byte) int {
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(versionLabel))
	v := int(binary.BigEndian.Uint32(mac.Sum(nil)[:4]) & 0x7fffffff)
	if v == 0 {
		v = 1
	}
	return v
}

// ParseHexKey decodes a key written as 64 hexadecimal characters (either
// case; surrounding white space is ignored), the form of
// CHANNEL_ENCRYPTION_KEY. The error never contains the input.
func ParseHexKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2*KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d hexadecimal characters (%d bytes), got %d characters", 2*KeySize, KeySize, len(s))
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("secretbox: key must be %d hexadecimal characters (%d bytes); it contains other characters", 2*KeySize, KeySize)
	}
	return k, nil
}

// CurrentVersion returns the version of the key Seal uses.
func (b *Box) CurrentVersion() int { return b.current.version }

// Seal encrypts plaintext with the current key and returns the ciphertext
// (random nonce first) and the key version to store beside it. An empty
// plaintext is allowed.
func (b *Box) Seal(plaintext []byte) (ciphertext []byte, keyVersion int, err error) {
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+b.current.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, 0, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.current.aead.Seal(out, out, plaintext, nil), b.current.version, nil
}

// Open decrypts a ciphertext sealed with the key of keyVersion, which may be
// the current key or, during a rotation, the old one. It returns an error
// wrapping ErrUnknownKeyVersion for any other version and ErrDecrypt when
// the ciphertext is too short or fails authentication.
func (b *Box) Open(ciphertext []byte, keyVersion int) ([]byte, error) {
	var k *key
	switch {
	case keyVersion == b.current.version:
		k = &b.current
	case b.old != nil && keyVersion == b.old.version:
		k = b.old
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnknownKeyVersion, keyVersion)
	}
	if len(ciphertext) < NonceSize+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	plaintext, err := k.aead.Open(nil, ciphertext[:NonceSize], ciphertext[NonceSize:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// NeedsRotation reports whether a ciphertext of keyVersion was sealed with
// a key other than the current one and should be re-sealed.
func (b *Box) NeedsRotation(keyVersion int) bool { return keyVersion != b.current.version }

// Reseal opens a ciphertext and, when it was sealed with another key than
// the current one, seals it again with the current key. It returns the
// ciphertext and version to store, and whether they changed.
func (b *Box) Reseal(ciphertext []byte, keyVersion int) (newCiphertext []byte, newVersion int, changed bool, err error) {
	plaintext, err := b.Open(ciphertext, keyVersion)
	if err != nil {
		return nil, 0, false, err
	}
	if !b.NeedsRotation(keyVersion) {
		return ciphertext, keyVersion, false, nil
	}
	ct, v, err := b.Seal(plaintext)
	if err != nil {
		return nil, 0, false, err
	}
	return ct, v, true, nil
}
