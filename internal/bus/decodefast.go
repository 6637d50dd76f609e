package bus

import (
	"bytes"
	"encoding/json"
)

// decodeFast decodes a frame that is valid JSON and a well-formed message:
// an object with a non-empty string "type", data an object or null,
// context an object or null, none of the three twice. It reports false for
// anything else, leaving the error to decodeTokens. On the frames it
// accepts, its result is decodeTokens's: keys and the type unescaped as
// encoding/json does, raw values byte for byte, copied out of frame, and
// the last of a context key given twice.
//
// json.Valid checks the frame first, so the walk below can trust its
// structure and only find the extent of each value.
func decodeFast(frame []byte) (Message, bool) {
	if !json.Valid(frame) {
		return Message{}, false
	}
	w := walker{b: frame}
	if w.space(); w.b[w.i] != '{' {
		return Message{}, false
	}
	w.i++
	var (
		m    Message
		seen [3]bool
	)
	ok := w.members(func(key string, val []byte) bool {
		if i := knownKey(key); i >= 0 {
			if seen[i] {
				return false
			}
			seen[i] = true
		}
		switch key {
		case "type":
			if val[0] != '"' {
				return false
			}
			m.Type = unquote(val)
		case "data":
			switch val[0] {
			case '{':
				m.Data = bytes.Clone(val)
			case 'n':
			default:
				return false
			}
		case "context":
			switch val[0] {
			case '{':
				m.Context = contextOf(val)
			case 'n':
			default:
				return false
			}
		}
		return true
	})
	if !ok || m.Type == "" {
		return Message{}, false
	}
	if m.Data == nil {
		m.Data = json.RawMessage("{}")
	}
	if m.Context == nil {
		m.Context = map[string]json.RawMessage{}
	}
	return m, true
}

// contextOf returns the members of val, a context object, copied out of
// the frame.
func contextOf(val []byte) map[string]json.RawMessage {
	ctx := map[string]json.RawMessage{}
	v := walker{b: val, i: 1}
	v.members(func(k string, raw []byte) bool {
		ctx[k] = bytes.Clone(raw)
		return true
	})
	return ctx
}

// walker finds its way through JSON already known to be valid.
type walker struct {
	b []byte
	i int
}

func (w *walker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\r', '\n':
			w.i++
		default:
			return
		}
	}
}

// members calls f with each key and raw value of the object whose opening
// brace is just behind w.i, and leaves w.i after its closing brace. It
// stops early, reporting false, when f does.
func (w *walker) members(f func(key string, val []byte) bool) bool {
	if w.space(); w.b[w.i] == '}' {
		w.i++
		return true
	}
	for {
		w.space()
		key := unquote(w.value())
		w.space()
		w.i++ // the colon
		w.space()
		if !f(key, w.value()) {
			return false
		}
		w.space()
		c := w.b[w.i]
		w.i++
		if c == '}' {
			return true
		}
	}
}

// value returns the value at w.i and moves past it.
func (w *walker) value() []byte {
	start := w.i
	switch w.b[w.i] {
	case '"':
		w.skipString()
	case '{', '[':
		depth := 0
		for {
			switch w.b[w.i] {
			case '"':
				w.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			w.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return w.b[start:w.i]
			}
			w.i++
		}
	}
	return w.b[start:w.i]
}

// skipString moves past the string whose opening quote is at w.i: to the
// first quote after it that an odd run of backslashes does not escape.
func (w *walker) skipString() {
	w.i++
	for {
		q := w.i + bytes.IndexByte(w.b[w.i:], '"')
		w.i = q + 1
		n := 0
		for q-1-n >= 0 && w.b[q-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return
		}
	}
}

// unquote returns the string a JSON string literal stands for, as
// encoding/json reads it (escapes resolved, invalid UTF-8 replaced).
func unquote(lit []byte) string {
	plain := true
	for _, c := range lit[1 : len(lit)-1] {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s) // a valid string literal: cannot fail
	return s
}
