package secretbox

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustBox(t *testing.T, current, old []byte) *Box {
	t.Helper()
	b, err := New(current, old)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	b := mustBox(t, randomKey(t), nil)
	for _, msg := range [][]byte{nil, {}, []byte("x"), []byte(`{"botToken":"123:abc"}`), bytes.Repeat([]byte("k"), 1<<16)} {
		ct, v, err := b.Seal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if v != b.CurrentVersion() || v <= 0 {
			t.Fatalf("version %d, want current %d", v, b.CurrentVersion())
		}
		if len(ct) != len(msg)+Overhead {
			t.Fatalf("ciphertext is %d bytes for %d of plaintext", len(ct), len(msg))
		}
		if len(msg) > 8 && bytes.Contains(ct, msg[:8]) {
			t.Fatal("ciphertext contains the plaintext")
		}
		got, err := b.Open(ct, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("Open = %q, want %q", got, msg)
		}
		if b.NeedsRotation(v) {
			t.Fatal("fresh ciphertext needs rotation")
		}
	}
}

func TestNonceIsRandom(t *testing.T) {
	t.Parallel()
	b := mustBox(t, randomKey(t), nil)
	seen := map[string]bool{}
	for range 1000 {
		ct, _, err := b.Seal([]byte("same plaintext"))
		if err != nil {
			t.Fatal(err)
		}
		n := string(ct[:NonceSize])
		if seen[n] {
			t.Fatal("nonce repeated")
		}
		seen[n] = true
	}
}

func TestTamperDetection(t *testing.T) {
	t.Parallel()
	b := mustBox(t, randomKey(t), nil)
	ct, v, err := b.Seal([]byte("apiToken=secret"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := b.Open(bad, v); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipping byte %d: Open = %v, want ErrDecrypt", i, err)
		}
	}
	for _, bad := range [][]byte{nil, ct[:NonceSize], ct[:len(ct)-1], append(bytes.Clone(ct), 0)} {
		if _, err := b.Open(bad, v); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Open(%d bytes) = %v, want ErrDecrypt", len(bad), err)
		}
	}
}

func TestWrongKeyFails(t *testing.T) {
	t.Parallel()
	k1, k2 := randomKey(t), randomKey(t)
	a, b := mustBox(t, k1, nil), mustBox(t, k2, nil)
	ct, v, err := a.Seal([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ct, v); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("Open with another key = %v, want ErrUnknownKeyVersion", err)
	}
	// Even when told the other key's version, the wrong key cannot open it.
	if _, err := b.Open(ct, b.CurrentVersion()); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open with another key under its version = %v, want ErrDecrypt", err)
	}
	if _, err := a.Open(ct, 0); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("Open with version 0 = %v, want ErrUnknownKeyVersion", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := randomKey(t), randomKey(t)
	before := mustBox(t, oldKey, nil)
	ct, oldV, err := before.Seal([]byte("telegram bot token"))
	if err != nil {
		t.Fatal(err)
	}

	during := mustBox(t, newKey, oldKey)
	if during.CurrentVersion() == oldV || during.CurrentVersion() != KeyVersion(newKey) {
		t.Fatalf("current version %d, old %d", during.CurrentVersion(), oldV)
	}
	if !during.NeedsRotation(oldV) {
		t.Fatal("old ciphertext does not need rotation")
	}
	got, err := during.Open(ct, oldV)
	if err != nil || string(got) != "telegram bot token" {
		t.Fatalf("Open old ciphertext during rotation = %q, %v", got, err)
	}
	// Something sealed during the rotation uses the new key.
	fresh, freshV, err := during.Seal([]byte("new secret"))
	if err != nil || freshV != KeyVersion(newKey) {
		t.Fatalf("Seal during rotation: version %d, %v", freshV, err)
	}

	re, reV, changed, err := during.Reseal(ct, oldV)
	if err != nil || !changed || reV != during.CurrentVersion() || during.NeedsRotation(reV) {
		t.Fatalf("Reseal = version %d, changed %v, %v", reV, changed, err)
	}
	same, sameV, changed, err := during.Reseal(re, reV)
	if err != nil || changed || sameV != reV || !bytes.Equal(same, re) {
		t.Fatalf("Reseal of a current ciphertext changed it: %v %v", changed, err)
	}

	// After the rotation the old key is gone; re-sealed rows still open,
	// un-rotated ones are reported, not misread.
	after := mustBox(t, newKey, nil)
	for _, c := range []struct {
		ct   []byte
		v    int
		want string
	}{{re, reV, "telegram bot token"}, {fresh, freshV, "new secret"}} {
		got, err := after.Open(c.ct, c.v)
		if err != nil || string(got) != c.want {
			t.Fatalf("Open after rotation = %q, %v; want %q", got, err, c.want)
		}
	}
	if _, err := after.Open(ct, oldV); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("Open of an un-rotated row after rotation = %v, want ErrUnknownKeyVersion", err)
	}
	// The old box cannot read what the new key sealed.
	if _, err := before.Open(re, reV); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("old box opened a new ciphertext: %v", err)
	}
}

func TestKeyVersionIsStable(t *testing.T) {
	t.Parallel()
	// Stored versions must never change meaning between releases. The
	// golden values were checked against an independent HMAC-SHA256.
	for _, tc := range []struct {
		hexKey string
		want   int
	}{
		{strings.Repeat("00", KeySize), 1835034111},
		{strings.Repeat("0123456789abcdef", 4), 156511397},
	} {
		k, _ := hex.DecodeString(tc.hexKey)
		if got := KeyVersion(k); got != tc.want {
			t.Errorf("KeyVersion(%s) = %d, want %d", tc.hexKey, got, tc.want)
		}
		b := mustBox(t, k, nil)
		if b.CurrentVersion() != tc.want {
			t.Errorf("CurrentVersion = %d, want %d", b.CurrentVersion(), tc.want)
		}
	}
	a, b := KeyVersion(randomKey(t)), KeyVersion(randomKey(t))
	if a == b {
		t.Fatal("two random keys share a version")
	}
}

func TestNewValidatesKeys(t *testing.T) {
	t.Parallel()
	good := randomKey(t)
	for _, tc := range []struct {
		name     string
		cur, old []byte
		ok       bool
	}{
		{"current only", good, nil, true},
		{"empty old", good, []byte{}, true},
		{"same old", good, bytes.Clone(good), true},
		{"short current", good[:16], nil, false},
		{"nil current", nil, nil, false},
		{"long current", append(bytes.Clone(good), 0), nil, false},
		{"short old", good, good[:31], false},
	} {
		b, err := New(tc.cur, tc.old)
		if (err == nil) != tc.ok {
			t.Errorf("%s: New = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err == nil && b.old != nil && tc.name == "same old" {
			t.Errorf("%s: an old key equal to current was kept", tc.name)
		}
	}
}

func TestParseHexKey(t *testing.T) {
	t.Parallel()
	hexKey := strings.Repeat("0123456789abcdef", 4)
	k, err := ParseHexKey(hexKey)
	if err != nil || len(k) != KeySize || k[1] != 0x23 {
		t.Fatalf("ParseHexKey = %x, %v", k, err)
	}
	if k2, err := ParseHexKey("  " + strings.ToUpper(hexKey) + "\n"); err != nil || !bytes.Equal(k, k2) {
		t.Fatalf("upper case with spaces: %x, %v", k2, err)
	}
	secretish := strings.Repeat("g", 64)
	for _, bad := range []string{"", hexKey[:62], hexKey + "00", secretish, hexKey[:63] + " "} {
		_, err := ParseHexKey(bad)
		if err == nil {
			t.Errorf("ParseHexKey(%q) succeeded", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), strings.TrimSpace(bad)) {
			t.Errorf("error %q repeats the key", err)
		}
	}
}
