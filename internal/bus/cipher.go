package bus

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// Sizes of an encrypted frame's parts, as pycryptodome's AES-GCM makes them
// for ovos-bus-client.
const (
	nonceSize = 16 // pycryptodome's GCM default; the GCM standard's is 12
	tagSize   = 16
)

var (
	// ErrNotEncrypted is returned by Cipher.Open for a frame that is not an
	// encrypted frame: not a JSON object, or one without "ciphertext". It
	// is a plain OVOS message, or no message at all.
	ErrNotEncrypted = errors.New("bus: not an encrypted frame")
	// ErrDecrypt is returned by Cipher.Open for a well-formed encrypted
	// frame that does not authenticate: it was sealed with another key, or
	// altered on the way.
	ErrDecrypt = errors.New("bus: frame does not decrypt with this key (another secret_key, or altered)")
)

// Cipher seals and opens the frames of an encrypted OVOS messagebus, the
// one ovos-bus-client speaks when mycroft.conf sets websocket.secret_key:
// AES-GCM with the key's UTF-8 bytes, a random 16-byte nonce and a 16-byte
// tag, the frame being the JSON object
//
//	{"ciphertext": hex, "tag": hex, "nonce": hex}
//
// whose plaintext is the ordinary message JSON. Web clients leave out "tag"
// and append it to the ciphertext, as WebCrypto does; Open takes both.
//
// A Cipher is safe for concurrent use. It never prints its key: formatting
// or logging it shows only the AES variant.
type Cipher struct {
	aead cipher.AEAD
	bits int
}

// NewCipher returns the Cipher for an OVOS secret_key. The key's UTF-8
// bytes are the AES key, so it must be 16, 24 or 32 bytes long (ASCII
// characters) for AES-128, -192 or -256; any other length is an error, which
// gives the length but never the key.
func NewCipher(key string) (*Cipher, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("bus: secret key is %d bytes long; want 16, 24 or 32 (AES-128, AES-192 or AES-256)", len(key))
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("bus: secret key: %w", err) // unreachable: the length is checked
	}
	aead, err := cipher.NewGCMWithNonceSize(block, nonceSize)
	if err != nil {
		return nil, fmt.Errorf("bus: secret key: %w", err)
	}
	return &Cipher{aead: aead, bits: 8 * len(key)}, nil
}

// String describes c without its key, e.g. "bus.Cipher(AES-256-GCM)".
func (c *Cipher) String() string {
	if c == nil {
		return "bus.Cipher(nil)"
	}
	return "bus.Cipher(AES-" + strconv.Itoa(c.bits) + "-GCM)"
}

// GoString is String, so that %#v does not print the key schedule.
func (c *Cipher) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with String.
func (c *Cipher) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Seal encrypts one frame (the message JSON) under a fresh random nonce and
// returns the encrypted frame {"ciphertext":…,"tag":…,"nonce":…}, lower-case
// hex as Python's hexlify writes it. The result is a little more than twice
// as long as plaintext.
func (c *Cipher) Seal(plaintext []byte) []byte {
	nonce := make([]byte, nonceSize)
	_, _ = rand.Read(nonce) // never fails: crypto/rand crashes the program instead
	return c.seal(plaintext, nonce)
}

// seal is Seal with a given nonce, which must never repeat under one key:
// only tests choose it.
func (c *Cipher) seal(plaintext, nonce []byte) []byte {
	sealed := c.aead.Seal(nil, nonce, plaintext, nil)
	ct, tag := sealed[:len(plaintext)], sealed[len(plaintext):]

	const (
		part1 = `{"ciphertext":"`
		part2 = `","tag":"`
		part3 = `","nonce":"`
		part4 = `"}`
	)
	out := make([]byte, 0, len(part1)+2*len(ct)+len(part2)+2*tagSize+len(part3)+2*nonceSize+len(part4))
	out = append(out, part1...)
	out = hex.AppendEncode(out, ct)
	out = append(out, part2...)
	out = hex.AppendEncode(out, tag)
	out = append(out, part3...)
	out = hex.AppendEncode(out, nonce)
	return append(out, part4...)
}

// Open decrypts an encrypted frame and returns its plaintext, the message
// JSON. It takes pycryptodome's shape, with "tag", and WebCrypto's, whose
// "tag" is absent or null and whose ciphertext ends with the 16-byte tag.
// Keys are matched exactly, as Python does, and other keys are ignored.
//
// It returns ErrNotEncrypted for a frame without a top-level "ciphertext"
// (a key spelt with \u escapes is not recognised), ErrDecrypt for one that
// does not authenticate, and another error for a malformed one: not valid
// JSON, a part that is not a hex string, a nonce or tag that is not 16
// bytes. It never allocates much more than the frame's own size.
//
// Open does not tell a new frame from one sent again: a Client drops those
// with the nonces it remembers.
func (c *Cipher) Open(frame []byte) ([]byte, error) {
	plain, _, err := c.open(frame)
	return plain, err
}

// open is Open that also returns the frame's nonce.
func (c *Cipher) open(frame []byte) (plain []byte, nonce [nonceSize]byte, err error) {
	if !bytes.Contains(frame, []byte(`"ciphertext"`)) {
		return nil, nonce, ErrNotEncrypted // the cheap answer for a plain frame
	}
	parts, ok := scanSealed(frame)
	if !ok {
		if parts, err = parseSealed(frame); err != nil {
			return nil, nonce, err
		}
	}
	return c.openParts(parts)
}

// openParts checks the sizes of an encrypted frame's parts, decodes them and
// decrypts.
func (c *Cipher) openParts(p sealedParts) (plain []byte, nonce [nonceSize]byte, err error) {
	switch {
	case !p.ciphertext.set:
		return nil, nonce, ErrNotEncrypted
	case p.ciphertext.null:
		return nil, nonce, errors.New("bus: encrypted frame: ciphertext is null")
	case !p.nonce.set || p.nonce.null:
		return nil, nonce, errors.New("bus: encrypted frame has no nonce")
	case len(p.nonce.hex) != 2*nonceSize:
		return nil, nonce, fmt.Errorf("bus: encrypted frame: nonce is not %d bytes", nonceSize)
	}
	withTag := p.tag.set && !p.tag.null // else WebCrypto's shape
	if withTag && len(p.tag.hex) != 2*tagSize {
		return nil, nonce, fmt.Errorf("bus: encrypted frame: tag is not %d bytes", tagSize)
	}
	if _, err := hex.Decode(nonce[:], p.nonce.hex); err != nil {
		return nil, nonce, errors.New("bus: encrypted frame: nonce is not hex")
	}
	// aead.Open wants ciphertext||tag: decode both into one buffer, which
	// then takes the plaintext.
	size := len(p.ciphertext.hex) / 2
	if withTag {
		size += tagSize
	}
	buf, err := hex.AppendDecode(make([]byte, 0, size), p.ciphertext.hex)
	if err != nil {
		return nil, nonce, errors.New("bus: encrypted frame: ciphertext is not hex")
	}
	if withTag {
		if buf, err = hex.AppendDecode(buf, p.tag.hex); err != nil {
			return nil, nonce, errors.New("bus: encrypted frame: tag is not hex")
		}
	}
	if len(buf) < tagSize {
		return nil, nonce, fmt.Errorf("bus: encrypted frame: ciphertext shorter than its %d-byte tag", tagSize)
	}
	if plain, err = c.aead.Open(buf[:0], nonce[:], buf, nil); err != nil {
		return nil, nonce, ErrDecrypt
	}
	return plain, nonce, nil
}

// sealedParts are the members of an encrypted frame.
type sealedParts struct {
	ciphertext, tag, nonce sealedPart
}

type sealedPart struct {
	set  bool   // the member is there
	null bool   // its value is null
	hex  []byte // else its string value
}

// part returns the member of p that key names, or nil.
func (p *sealedParts) part(key []byte) *sealedPart {
	switch string(key) {
	case "ciphertext":
		return &p.ciphertext
	case "tag":
		return &p.tag
	case "nonce":
		return &p.nonce
	}
	return nil
}

// scanSealed reads an encrypted frame as ovos-bus-client, WebCrypto clients
// and Seal write it, in place: one object of the three members, each once,
// whose values are null or strings of printable ASCII without escapes. For
// anything else it reports false, and parseSealed judges the frame; on the
// frames it takes, the two agree.
func scanSealed(frame []byte) (p sealedParts, ok bool) {
	i := skipSpace(frame, 0)
	if i == len(frame) || frame[i] != '{' {
		return p, false
	}
	i = skipSpace(frame, i+1)
	if i < len(frame) && frame[i] == '}' {
		return p, skipSpace(frame, i+1) == len(frame)
	}
	for {
		key, j, ok := scanPlainString(frame, i)
		if !ok {
			return p, false
		}
		dst := p.part(key)
		if dst == nil || dst.set {
			return p, false
		}
		dst.set = true
		i = skipSpace(frame, j)
		if i == len(frame) || frame[i] != ':' {
			return p, false
		}
		i = skipSpace(frame, i+1)
		if bytes.HasPrefix(frame[i:], []byte("null")) {
			dst.null, i = true, i+len("null")
		} else if dst.hex, i, ok = scanPlainString(frame, i); !ok {
			return p, false
		}
		i = skipSpace(frame, i)
		switch {
		case i == len(frame):
			return p, false
		case frame[i] == ',':
			i = skipSpace(frame, i+1)
		case frame[i] == '}':
			return p, skipSpace(frame, i+1) == len(frame)
		default:
			return p, false
		}
	}
}

// scanPlainString reads the JSON string at frame[i] if it holds printable
// ASCII without escapes, returning its contents and the index after it.
func scanPlainString(frame []byte, i int) (s []byte, next int, ok bool) {
	if i == len(frame) || frame[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(frame); j++ {
		switch c := frame[j]; {
		case c == '"':
			return frame[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// parseSealed reads the top-level members of any frame, as Python's
// json.loads would. Until it has met a "ciphertext" member, anything wrong
// (not an object, not JSON) makes the frame not an encrypted one, for the
// plain path to judge; after that, it is a malformed encrypted frame. Naming
// a part twice is malformed too: Python would take the last, but which one
// was meant is ambiguous.
func parseSealed(frame []byte) (sealedParts, error) {
	var p sealedParts
	fail := func(err error) (sealedParts, error) {
		if !p.ciphertext.set {
			return p, ErrNotEncrypted
		}
		return p, fmt.Errorf("bus: encrypted frame: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(frame))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return p, ErrNotEncrypted
	}
	var scratch json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key, _ := tok.(string) // the decoder only yields strings in key position
		dst := p.part([]byte(key))
		if dst == nil {
			if err := dec.Decode(&scratch); err != nil {
				return fail(err)
			}
			continue
		}
		if dst.set {
			return fail(fmt.Errorf("%s named twice", key))
		}
		dst.set = true
		var s *string
		if err := dec.Decode(&s); err != nil {
			return fail(fmt.Errorf("%s is not a string", key))
		}
		if s == nil {
			dst.null = true
		} else {
			dst.hex = []byte(*s)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fail(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("data after the JSON object"))
	}
	return p, nil
}
