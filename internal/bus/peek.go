package bus

import (
	"bytes"
	"encoding/json"
)

// PeekType returns a frame's top-level "type" without decoding the rest, so
// that the many frames the daemon does not handle cost almost nothing. It
// reports false if frame is not a JSON object with a non-empty string type.
//
// Frames as ovos-bus-client and the GUI write them begin {"type": "..." and
// are read in place; any other shape (type not first, escapes in the type)
// falls back to a token walk. Whenever Decode accepts a frame, PeekType
// returns the same type; a frame PeekType accepts may still fail Decode (its
// rest is not checked). It is safe to call concurrently.
func PeekType(frame []byte) (string, bool) {
	i := skipSpace(frame, 0)
	if i == len(frame) || frame[i] != '{' {
		return "", false
	}
	i = skipSpace(frame, i+1)
	if !bytes.HasPrefix(frame[i:], []byte(`"type"`)) {
		return peekSlow(frame)
	}
	i = skipSpace(frame, i+len(`"type"`))
	if i == len(frame) || frame[i] != ':' {
		return "", false // not valid JSON
	}
	i = skipSpace(frame, i+1)
	if i == len(frame) || frame[i] != '"' {
		// The first "type" is not a string, and Decode rejects a second one.
		return "", false
	}
	start := i + 1
	for j := start; j < len(frame); j++ {
		switch c := frame[j]; {
		case c == '"':
			if j == start {
				return "", false
			}
			return string(frame[start:j]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			// Escapes need unescaping, control bytes are invalid and
			// non-ASCII needs UTF-8 checking: leave them to the decoder.
			return peekSlow(frame)
		}
	}
	return "", false
}

// peekSlow walks the top-level keys until "type". It only has to agree with
// Decode on frames Decode accepts, which have at most one "type".
func peekSlow(frame []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(frame))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	var scratch json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if tok != "type" {
			if err := skipValue(dec, &scratch); err != nil {
				return "", false
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil || firstByte(raw) != '"' {
			return "", false
		}
		var typ string
		if err := json.Unmarshal(raw, &typ); err != nil {
			return "", false
		}
		return typ, typ != ""
	}
	return "", false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}
