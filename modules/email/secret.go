package email

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoSecretBox is returned by Enqueue for a message with a Secret when the module has no
// secretbox key.
var ErrNoSecretBox = errors.New("email: a message with secret fields needs a secretbox key")

// sealSecret encrypts the secret template fields; nil, nil for none.
func (s *Service) sealSecret(secret map[string]string) ([]byte, *int, error) {
	if len(secret) == 0 {
		return nil, nil, nil
	}
	if s.box == nil {
		return nil, nil, ErrNoSecretBox
	}
	plain, err := json.Marshal(secret)
	if err != nil {
		return nil, nil, fmt.Errorf("email: secret: %w", err)
	}
	ct, v, err := s.box.Seal(plain)
	if err != nil {
		return nil, nil, err
	}
	return ct, &v, nil
}

// openSecret decrypts what sealSecret stored. A row whose secret was already wiped has none.
func (s *Service) openSecret(ct []byte, version *int) (map[string]string, error) {
	if len(ct) == 0 || version == nil {
		return nil, nil
	}
	if s.box == nil {
		return nil, ErrNoSecretBox
	}
	plain, err := s.box.Open(ct, *version)
	if err != nil {
		return nil, fmt.Errorf("email: open secret fields: %w", err)
	}
	var out map[string]string
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("email: secret fields: %w", err)
	}
	return out, nil
}

// withSecret is data with the secret fields added (a new map; data is not changed).
func withSecret(data map[string]any, secret map[string]string) map[string]any {
	if len(secret) == 0 {
		return data
	}
	out := make(map[string]any, len(data)+len(secret))
	for k, v := range data {
		out[k] = v
	}
	for k, v := range secret {
		out[k] = v
	}
	return out
}
