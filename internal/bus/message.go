// Package bus speaks the OVOS messagebus: the Message frame and its reply
// rules as ovos-bus-client applies them, Cipher for the encrypted bus
// (websocket.secret_key), a reconnecting Client for the daemon, and Hub, an
// OVOS-compatible messagebus server for the embedded bus and for tests.
package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
)

// Message is one OVOS bus frame: {"type": ..., "data": {...}, "context": {...}}.
//
// Data and the values of Context are raw JSON kept as they arrived, so a
// reply carries the request's session byte for byte. The package never
// mutates them, which is why copies of a Message may share them; callers
// must not modify their bytes either. A Message may be read from several
// goroutines at once; writes need the usual synchronisation.
type Message struct {
	Type string
	// Data is a JSON object. nil (or JSON null) means {}.
	Data json.RawMessage
	// Context maps each context key to its raw JSON value. nil means {}.
	Context map[string]json.RawMessage
}

// wireMessage fixes the key order of an encoded frame.
type wireMessage struct {
	Type    string                     `json:"type"`
	Data    json.RawMessage            `json:"data"`
	Context map[string]json.RawMessage `json:"context"`
}

var (
	errNoType     = errors.New("message has no type")
	errNotObject  = errors.New("frame is not a JSON object")
	errDataObject = errors.New("data is not a JSON object")
	errTrailing   = errors.New("data after the JSON object")
	errTypeString = errors.New("type is not a string")
)

// MarshalJSON encodes m as {"type":..,"data":{..},"context":{..}}, writing
// nil Data or Context as {}. Raw values are compacted but otherwise kept
// byte for byte (no HTML escaping); context keys come out sorted. It fails
// if Type is empty, Data is not an object, or a raw value is not valid JSON.
// (json.Marshal(m) gives the same frame with <, > and & escaped.)
func (m Message) MarshalJSON() ([]byte, error) {
	if m.Type == "" {
		return nil, errNoType
	}
	w := wireMessage(m)
	switch b := bytes.TrimSpace(m.Data); {
	case len(b) == 0, string(b) == "null":
		w.Data = json.RawMessage("{}")
	case b[0] != '{':
		return nil, fmt.Errorf("encode message %q: %w", m.Type, errDataObject)
	}
	if w.Context == nil {
		w.Context = map[string]json.RawMessage{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encode message %q: %w", m.Type, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON decodes one frame into m. A missing or null data or context
// becomes {}; "type" must be a non-empty string; data and context must be
// objects. Keys are matched exactly (as Python does), other keys are ignored,
// and a frame naming type, data or context twice is rejected as ambiguous.
// On error m is left unchanged.
func (m *Message) UnmarshalJSON(b []byte) error {
	out, err := decode(b)
	if err != nil {
		return err
	}
	*m = out
	return nil
}

// Decode parses one bus frame, compact or indented over several lines as the
// GUI sends it, with the rules of Message.UnmarshalJSON. The result shares no
// memory with frame. It is safe to call concurrently.
func Decode(frame []byte) (Message, error) {
	m, err := decode(frame)
	if err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	return m, nil
}

// decode parses one frame. A frame that is valid JSON, as every frame off
// the bus is, is walked in place by decodeFast; decodeTokens, a token walk
// through encoding/json that is ~5x slower, is the reference: it decodes
// what decodeFast declines (anything that would be an error, whose
// messages are its) and agrees with decodeFast on the rest
// (FuzzDecodeFastAgrees).
func decode(frame []byte) (Message, error) {
	if m, ok := decodeFast(frame); ok {
		return m, nil
	}
	return decodeTokens(frame)
}

func decodeTokens(frame []byte) (Message, error) {
	dec := json.NewDecoder(bytes.NewReader(frame))
	tok, err := dec.Token()
	if err != nil {
		return Message{}, err
	}
	if tok != json.Delim('{') {
		return Message{}, errNotObject
	}
	var (
		m       Message
		seen    [3]bool // type, data, context
		scratch json.RawMessage
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Message{}, err
		}
		key, _ := tok.(string) // the decoder only yields strings in key position
		if i := knownKey(key); i >= 0 {
			if seen[i] {
				return Message{}, fmt.Errorf("key %q appears twice", key)
			}
			seen[i] = true
		}
		if err := decodeMember(dec, key, &m, &scratch); err != nil {
			return Message{}, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return Message{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Message{}, errTrailing
	}
	if m.Type == "" {
		return Message{}, errNoType
	}
	if m.Data == nil {
		m.Data = json.RawMessage("{}")
	}
	if m.Context == nil {
		m.Context = map[string]json.RawMessage{}
	}
	return m, nil
}

// decodeMember decodes the value of the top-level key from dec into m;
// scratch is decodeTokens' buffer for the values it skips.
func decodeMember(dec *json.Decoder, key string, m *Message, scratch *json.RawMessage) error {
	switch key {
	case "type":
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if firstByte(raw) != '"' {
			return errTypeString
		}
		if err := json.Unmarshal(raw, &m.Type); err != nil {
			return err
		}
	case "data":
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		switch firstByte(raw) {
		case '{':
			m.Data = raw
		case 'n': // null: the decoder has validated the literal
			m.Data = nil
		default:
			return errDataObject
		}
	case "context":
		var ctx map[string]json.RawMessage
		if err := dec.Decode(&ctx); err != nil {
			return fmt.Errorf("context: %w", err)
		}
		m.Context = ctx
	default:
		if err := skipValue(dec, scratch); err != nil {
			return err
		}
	}
	return nil
}

// knownKey returns the index of a frame's top-level key in the seen set of
// decode, or -1.
func knownKey(key string) int {
	switch key {
	case "type":
		return 0
	case "data":
		return 1
	case "context":
		return 2
	}
	return -1
}

// skipValue reads past the next value. scratch is reused between calls so
// that skipping costs no allocation once it has grown.
func skipValue(dec *json.Decoder, scratch *json.RawMessage) error {
	return dec.Decode(scratch)
}

// firstByte returns the first non-whitespace byte of b, or 0.
func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// DecodeData unmarshals m.Data into v with encoding/json, reading nil Data
// as {}. It is safe to call concurrently.
func (m Message) DecodeData(v any) error {
	data := m.Data
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s data: %w", m.Type, err)
	}
	return nil
}

// LogValue implements slog.LogValuer: a Message logs as its type and size
// only, since frames carry tokens and secrets.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", m.Type), slog.Int("data_bytes", len(m.Data)))
}

// DefaultSession is the "session" context value of the default session:
// what ovos-bus-client's emit adds to a message sent without a session by
// a client in the default session (every skill and service on a device),
// and what ovos-messagebus's "connected" frame carries. Only the id is
// given: a reader takes session_id "default" for its own default session
// and fills the other fields (lang, pipeline, …) from its own
// configuration, so any value of theirs sent from here could only
// contradict it.
const DefaultSession = `{"session_id":"default"}`

// WithSession returns m with the default session in its context when m
// carries no "session", as ovos-bus-client's emit adds one: without it every
// Python client on the bus logs "No session context in message" for the
// frame. A session m carries is kept as it is. m is not modified.
func (m Message) WithSession() Message {
	if _, ok := m.Context["session"]; ok {
		return m
	}
	ctx := make(map[string]json.RawMessage, len(m.Context)+1)
	maps.Copy(ctx, m.Context)
	ctx["session"] = json.RawMessage(DefaultSession)
	m.Context = ctx
	return m
}

// NewMessage returns a message the daemon emits on its own initiative: data
// marshalled with encoding/json (nil means {}), and an empty context, so it
// carries no other client's session (Client.Send gives it the default
// one). data must marshal to a JSON object; anything else is a programmer
// error and panics.
func NewMessage(typ string, data any) Message {
	return Message{Type: typ, Data: marshalData(typ, data), Context: map[string]json.RawMessage{}}
}

// Reply answers m the way ovos-bus-client's Message.reply does: a new
// message of type typ whose context is a copy of m's, with "source" and
// "destination" swapped when both are present (with only one, nothing is
// swapped). data is marshalled as by NewMessage. m is not modified. As in
// ovos-bus-client, a reply to a message without a session gets the default
// one when it is sent (Client.Send), not here.
func (m Message) Reply(typ string, data any) Message {
	ctx := cloneContext(m.Context)
	src, hasSrc := ctx["source"]
	dst, hasDst := ctx["destination"]
	if hasSrc && hasDst {
		ctx["source"], ctx["destination"] = dst, src
	}
	return Message{Type: typ, Data: marshalData(typ, data), Context: ctx}
}

// Response is Reply(m.Type+".response", data), like ovos-bus-client's
// Message.response.
func (m Message) Response(data any) Message {
	return m.Reply(m.Type+".response", data)
}

// Forward returns a message of type typ carrying m's context unchanged (as a
// copy), like ovos-bus-client's Message.forward.
func (m Message) Forward(typ string, data any) Message {
	return Message{Type: typ, Data: marshalData(typ, data), Context: cloneContext(m.Context)}
}

// cloneContext copies the map. Copying the map is a deep copy in effect:
// raw values are never mutated, so sharing them is safe.
func cloneContext(ctx map[string]json.RawMessage) map[string]json.RawMessage {
	if ctx == nil {
		return map[string]json.RawMessage{}
	}
	return maps.Clone(ctx)
}

// direct reports whether marshalData calls data's MarshalJSON itself: not
// for a json.RawMessage, compacted as it always was, nor a nil pointer,
// which encodes as null.
func direct(data any) bool {
	if _, raw := data.(json.RawMessage); raw {
		return false
	}
	v := reflect.ValueOf(data)
	return v.Kind() != reflect.Pointer || !v.IsNil()
}

// marshalData encodes a helper's data argument. The helpers take the
// daemon's own types, so a failure is a bug, not an input error.
//
// A json.Marshaler other than json.RawMessage (the reply types of package
// wire) is called directly:
// encoding/json would validate and compact its output, which
// Message.MarshalJSON does anyway when the message is sent: doing it here
// too would scan every reply twice, on the path of every request.
func marshalData(typ string, data any) json.RawMessage {
	if data == nil {
		return json.RawMessage("{}")
	}
	if mj, ok := data.(json.Marshaler); ok && direct(data) {
		b, err := mj.MarshalJSON()
		if err != nil {
			panic(fmt.Sprintf("bus: cannot marshal %T as data of %q: %v", data, typ, err))
		}
		b = bytes.TrimSpace(b)
		switch {
		case string(b) == "null":
			return json.RawMessage("{}")
		case len(b) == 0 || b[0] != '{':
			panic(fmt.Sprintf("bus: data of %q must marshal to a JSON object, %T does not", typ, data))
		}
		return b
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		panic(fmt.Sprintf("bus: cannot marshal %T as data of %q: %v", data, typ, err))
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	switch {
	case string(b) == "null":
		return json.RawMessage("{}")
	case b[0] != '{':
		panic(fmt.Sprintf("bus: data of %q must marshal to a JSON object, %T does not", typ, data))
	}
	return b
}
