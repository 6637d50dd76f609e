package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain runs the daemon itself when a benchmark starts this test binary
// as a child process (OVOS_OAUTH_TEST_DAEMON holds its arguments as JSON),
// so that its CPU and memory are measured apart from the test's.
func TestMain(m *testing.M) {
	if raw := os.Getenv("OVOS_OAUTH_TEST_DAEMON"); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ovos-oauth:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
