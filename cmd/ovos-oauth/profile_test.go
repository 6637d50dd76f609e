package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCPUProfileFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args     []string
		file     string
		rest     []string
		wantFail bool
	}{
		{args: []string{"--data-dir", "d"}, rest: []string{"--data-dir", "d"}},
		{args: []string{"--cpuprofile", "p.out", "--data-dir", "d"}, file: "p.out", rest: []string{"--data-dir", "d"}},
		{args: []string{"--data-dir", "d", "--cpuprofile=p.out"}, file: "p.out", rest: []string{"--data-dir", "d"}},
		{args: []string{"--", "--cpuprofile", "x"}, rest: []string{"--", "--cpuprofile", "x"}},
		{args: []string{"--cpuprofile"}, wantFail: true},
		{args: []string{"--cpuprofile="}, wantFail: true},
	} {
		file, rest, err := cpuProfileFlag(tt.args)
		if (err != nil) != tt.wantFail {
			t.Errorf("cpuProfileFlag(%q) error = %v, want failure %v", tt.args, err, tt.wantFail)
			continue
		}
		if err == nil && (file != tt.file || !slices.Equal(rest, tt.rest)) {
			t.Errorf("cpuProfileFlag(%q) = %q, %q, want %q, %q", tt.args, file, rest, tt.file, tt.rest)
		}
	}
}

// TestCPUProfileWritten: serve --cpuprofile writes a profile by the time
// the daemon has stopped.
func TestCPUProfileWritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Skipf("a CPU profile is already running in this test binary: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v, size %v", path, err, fi)
	}
}
