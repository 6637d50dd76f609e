package bus

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkFastAgrees fails t unless decodeFast, where it accepts frame, gives
// what decodeTokens gives, and accepts every frame decodeTokens accepts.
func checkFastAgrees(t *testing.T, frame []byte) {
	t.Helper()
	want, werr := decodeTokens(frame)
	own := bytes.Clone(frame)
	got, ok := decodeFast(own)
	// The result must share no memory with the frame (gorilla reuses its
	// buffer): spoil the frame before comparing.
	for i := range own {
		own[i] = 'X'
	}
	switch {
	case ok && werr != nil:
		t.Fatalf("decodeFast(%q) accepted a frame decodeTokens rejects: %v", frame, werr)
	case !ok && werr == nil:
		t.Fatalf("decodeFast(%q) declined a frame decodeTokens accepts", frame)
	case ok:
		if diff := cmp.Diff(got, want); diff != "" {
			t.Fatalf("decodeFast(%q) (-got +want):\n%s", frame, diff)
		}
	}
}

func FuzzDecodeFastAgrees(f *testing.F) {
	fuzzSeeds(f)
	for _, s := range []string{
		`{"type":"a","context":{"k":1,"k":2}}`,
		`{"type":"a","context":{"k":null,"\u006b":[1,{"x":"}"}]}}`,
		`{"type":"a","data":null,"context":null}`,
		`{"type":"a","context":[]}`,
		`{"type":"a","data":"x"}`,
		`{"type":"a","type":1}`,
		`{"type":1,"type":"a"}`,
		" \n{ \"type\" : \"a\" , \"data\" : { \"b\" : [ 1 , 2.5e3 , true , \"\\\"}\" ] } } \n",
		`{"x":{"type":"inner"},"type":"outer"}`,
		"{\"type\":\"\xff\"}",
		`{"type":"a"} {}`,
		`{"type":"a",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkFastAgrees)
}

// TestDecodeFastTakesBusFrames: every frame of the fixtures (recorded from
// ovos-core, skills and the GUI) is decoded by the fast walk, not the token
// walk, with the same result.
func TestDecodeFastTakesBusFrames(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/upstream-frames.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		checkFastAgrees(t, []byte(line))
		n++
	}
	if n == 0 {
		t.Fatal("no fixtures")
	}
}
