// Package seal owns the secret key that ovos-oauth seals its secrets at rest
// with, and the format of a sealed value: AES-256-GCM with a random nonce,
// bound by additional data to the record it belongs to.
//
// A sealed value is
//
//	version (1 byte, 0x01) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// and the version byte is authenticated with the caller's additional data, so
// neither can be changed without Open failing.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
)

// KeySize is the size of a key in bytes: AES-256.
const KeySize = 32

// version1 is the first byte of every value Seal writes.
const version1 = 0x01

// Overhead is how many bytes Seal adds to a plaintext.
const Overhead = 1 + 12 + 16

// ErrOpen is returned by Box.Open when a value does not authenticate: it was
// sealed under another key or other additional data, or it was altered.
var ErrOpen = errors.New("seal: value does not authenticate (wrong key, moved or altered)")

// Box seals and opens values under one key. It never exposes the key: every
// formatting path prints REDACTED. A Box is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box for a KeySize-byte key. The Box keeps no reference to
// key; the caller may clear it.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	// A random 96-bit nonce per value: the store seals one value per write,
	// far below the 2^32 values per key this allows.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal returns plaintext sealed under the Box's key with a fresh random
// nonce, authenticated together with ad. Open must be given the same ad.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, 1, Overhead+len(plaintext))
	out[0] = version1
	return b.aead.Seal(out, nil, plaintext, additional(version1, ad))
}

// Open returns the plaintext of a value Seal returned for the same ad, or an
// error wrapping ErrOpen when it does not authenticate. The error never holds
// any of the value.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("seal: value of %d bytes is too short to be sealed", len(sealed))
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("seal: unknown format version %d", sealed[0])
	}
	plain, err := b.aead.Open(nil, nil, sealed[1:], additional(sealed[0], ad))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

func additional(version byte, ad []byte) []byte {
	return append([]byte{version}, ad...)
}

// String implements fmt.Stringer so %v never prints the key schedule.
func (Box) String() string { return "seal.Box(REDACTED)" }

// GoString implements fmt.GoStringer so %#v never prints the key schedule.
func (Box) GoString() string { return "seal.Box(REDACTED)" }

// LogValue implements slog.LogValuer.
func (Box) LogValue() slog.Value { return slog.StringValue("REDACTED") }
