package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
)

// cpuProfileFlag takes serve's hidden developer flag --cpuprofile FILE (or
// --cpuprofile=FILE) out of args: it is no setting of the daemon (no config
// key, no environment variable, not in --help), only a way to profile the
// real process under a load such as make bench's.
func cpuProfileFlag(args []string) (file string, rest []string, err error) {
	rest = make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--cpuprofile" || a == "-cpuprofile":
			if i+1 == len(args) || args[i+1] == "" {
				return "", nil, usageErr("--cpuprofile needs a file")
			}
			file = args[i+1]
			i++
		case strings.HasPrefix(a, "--cpuprofile=") || strings.HasPrefix(a, "-cpuprofile="):
			file = a[strings.IndexByte(a, '=')+1:]
			if file == "" {
				return "", nil, usageErr("--cpuprofile needs a file")
			}
		case a == "--":
			return file, append(rest, args[i:]...), nil
		default:
			rest = append(rest, a)
		}
	}
	return file, rest, nil
}

// startCPUProfile writes a CPU profile of the process to file until the
// returned stop is called (go tool pprof reads it).
func startCPUProfile(file string) (stop func() error, err error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile %s: %w", file, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return errors.Join(f.Sync(), f.Close())
	}, nil
}
