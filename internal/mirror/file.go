package mirror

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
)

// errNotObject reports a file that does not hold a JSON object. It is left as
// it is: it may be another program's data, or a torn write that program will
// redo, and either way a guess would lose what is in it.
var errNotObject = errors.New("not a JSON object; left untouched")

// update changes the file called name in f.Dir: it takes mu and the file's
// flock, reads the file, lets change edit its entries and writes them back
// if change reports that it changed something. Values change leaves alone
// are written back as they were read.
func (f *Files) update(name string, mu *sync.Mutex, change func(entries map[string]json.RawMessage) bool) error {
	_, _, err := f.updateStamp(name, mu, change)
	return err
}

// updateStamp is update that also returns the file's stamp once it is done,
// taken under the lock, and whether it wrote the file.
func (f *Files) updateStamp(name string, mu *sync.Mutex, change func(entries map[string]json.RawMessage) bool) (stamp, bool, error) {
	if f.Dir == "" {
		return stamp{}, false, errors.New("mirror: no directory set")
	}
	path := filepath.Join(f.Dir, name)

	mu.Lock()
	defer mu.Unlock()
	release, err := lockFile(filepath.Join(f.lockDir(), name+".lock"), f.timeout())
	if err != nil {
		return stamp{}, false, fmt.Errorf("mirror %s: %w", path, err)
	}
	defer release()

	entries, read, err := readEntriesStamp(path)
	if err != nil {
		return stamp{}, false, fmt.Errorf("mirror %s: %w", path, err)
	}
	if !change(entries) {
		return read, false, nil
	}
	written, err := writeFile(path, func(w io.Writer) error { return writeEntries(w, entries) })
	if err != nil {
		return stamp{}, false, fmt.Errorf("mirror %s: %w", path, err)
	}
	if afterWrite != nil {
		afterWrite(path)
	}
	return stamp{fi: written, known: true}, true, nil
}

// afterWrite, when set by a test, runs once a written file is in place.
var afterWrite func(path string)

// stamp tells whether a file changed since it was last seen: the file
// itself (a rename puts another one in place), its size and its
// modification time, in nanoseconds on the file systems that matter. Two
// stamps of a missing file are equal. The stamp of a file read or written
// is taken from the file read or written, never from its path again: a
// program that replaced or removed it in between would pass for it.
type stamp struct {
	fi    os.FileInfo // nil when the file is missing
	known bool        // a zero stamp matches nothing
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return stamp{known: true}
		}
		return stamp{} // unknown: never equal
	}
	return stamp{fi: fi, known: true}
}

func (s stamp) equal(o stamp) bool {
	switch {
	case !s.known || !o.known:
		return false
	case s.fi == nil || o.fi == nil:
		return s.fi == nil && o.fi == nil
	}
	return os.SameFile(s.fi, o.fi) && s.fi.Size() == o.fi.Size() && s.fi.ModTime().Equal(o.fi.ModTime())
}

// sameValue reports whether the raw value read from a file, however it is
// indented, is the compact value v.
func sameValue(raw, v json.RawMessage) bool {
	if bytes.Equal(raw, v) {
		return true
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return false
	}
	return bytes.Equal(buf.Bytes(), v)
}

func (f *Files) lockDir() string {
	if f.LockDir == "" {
		// Python's tempfile.gettempdir, which json_database uses, also
		// starts from $TMPDIR and falls back to /tmp.
		return os.TempDir()
	}
	return f.LockDir
}

func (f *Files) timeout() time.Duration {
	if f.Timeout <= 0 {
		return DefaultTimeout
	}
	return f.Timeout
}

// readEntries returns the top-level entries of the JSON object in path, each
// value as its raw text. A missing or empty file is an empty object: the
// latter is what a json_database writer killed mid-write leaves (it truncates
// in place), and json_database treats it as one too. Comments, which json_database's
// load_commented_json would strip, are not: such a file is errNotObject.
func readEntries(path string) (map[string]json.RawMessage, error) {
	entries, _, err := readEntriesStamp(path)
	return entries, err
}

// readEntriesStamp is readEntries that also returns the stamp of the file
// it read.
func readEntriesStamp(path string) (map[string]json.RawMessage, stamp, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]json.RawMessage{}, stamp{known: true}, nil
	}
	if err != nil {
		return nil, stamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, stamp{}, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, stamp{}, err
	}
	entries, err := parseEntries(data)
	if err != nil {
		return nil, stamp{}, err
	}
	return entries, stamp{fi: fi, known: true}, nil
}

// parseEntries is readEntries for the file's content. The values are
// slices of data, not copies: a 10,000-app file is parsed without a second
// copy of its text.
func parseEntries(data []byte) (map[string]json.RawMessage, error) {
	data = bytes.Trim(data, jsonSpace) // JSON's whitespace, no more
	if len(data) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	// Unmarshal would take null as a nil map without complaint.
	if data[0] != '{' {
		return nil, errNotObject
	}
	if !json.Valid(data) {
		// Unmarshal again for the syntax error, which names a character and
		// an offset, never a value.
		var entries map[string]json.RawMessage
		err := json.Unmarshal(data, &entries)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("%w: %w", errNotObject, err)
	}
	// A valid object from here on: each step can trust what follows.
	entries := make(map[string]json.RawMessage)
	i := skipSpace(data, 1)
	for data[i] != '}' {
		end := skipString(data, i)
		key := keyOf(data[i:end])
		i = skipSpace(data, skipSpace(data, end)+1) // past the ':'
		end = skipValue(data, i)
		entries[key] = data[i:end:end] // a later duplicate wins, as with Unmarshal
		i = skipSpace(data, end)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return entries, nil
}

// jsonSpace is JSON's whitespace.
const jsonSpace = " \t\r\n"

func skipSpace(b []byte, i int) int {
	for i < len(b) && strings.IndexByte(jsonSpace, b[i]) >= 0 {
		i++
	}
	return i
}

// skipString returns the index just past the valid JSON string at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	// A number, true, false or null.
	for i < len(b) && strings.IndexByte(",}] \t\r\n", b[i]) < 0 {
		i++
	}
	return i
}

// keyOf decodes a valid JSON string as Unmarshal does: plain UTF-8 as it is,
// escapes and invalid UTF-8 the slow way.
func keyOf(quoted []byte) string {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // valid: checked with the whole file
	return s
}

// writeEntries writes entries as json_database does (json.dump with
// indent=4 and ensure_ascii=False): four-space indents, non-ASCII and <>&
// as they are. Keys come out sorted; values keep their own key order. It
// is what a json.Encoder with SetIndent writes for the map, entry by entry:
// no copy of the whole file is built in memory.
func writeEntries(w io.Writer, entries map[string]json.RawMessage) error {
	if len(entries) == 0 {
		_, err := io.WriteString(w, "{}\n")
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var scratch bytes.Buffer
	keys := json.NewEncoder(&scratch)
	keys.SetEscapeHTML(false)
	bw.WriteString("{\n")
	for n, k := range slices.Sorted(maps.Keys(entries)) {
		if n > 0 {
			bw.WriteString(",\n")
		}
		bw.WriteString("    ")
		scratch.Reset()
		if err := keys.Encode(k); err != nil {
			return err
		}
		bw.Write(bytes.TrimSuffix(scratch.Bytes(), []byte("\n")))
		bw.WriteString(": ")
		scratch.Reset()
		// Indent keeps trailing whitespace; the Encoder would drop it.
		if err := json.Indent(&scratch, bytes.TrimRight(entries[k], jsonSpace), "    ", "    "); err != nil {
			return fmt.Errorf("entry %q: %w", k, err)
		}
		bw.Write(scratch.Bytes())
	}
	bw.WriteString("\n}\n")
	return bw.Flush() // the first error of any write above
}

// marshalValue encodes one entry's value, escaping as encodeEntries does.
func marshalValue(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("mirror: encode entry: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writeFile replaces path with what write writes, whole (atomicfile), and
// returns what it wrote as os.Stat would describe it. The file gets mode
// 0600, whatever the one it replaces had: it holds secrets. A missing
// directory is created 0700, with its missing parents.
func writeFile(path string, write func(io.Writer) error) (os.FileInfo, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return atomicfile.WriteFunc(path, 0o600, write)
}
