package main

import (
	"testing"
	"time"
)

// TestLoginEndsInWords: ovos-oauth status says when a login ends as a
// person reads it: "in 12 days".
func TestLoginEndsInWords(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.Local)
	unix := func(d time.Duration) *float64 {
		f := float64(now.Add(d).Unix())
		return &f
	}
	tests := []struct {
		at   *float64
		want string
	}{
		{nil, "-"},
		{unix(182 * 24 * time.Hour), "in 6 months (May 29)"},
		{unix(59 * 24 * time.Hour), "in 59 days (Jan 26)"},
		{unix(12*24*time.Hour + time.Hour), "in 12 days (Dec 10)"},
		{unix(36 * time.Hour), "in 2 days (Nov 30 00:00)"},
		{unix(20*24*time.Hour - time.Second), "in 20 days (Dec 18)"},
		{unix(5*time.Hour + 10*time.Minute), "in 5 hours (Nov 28 17:10)"},
		{unix(80 * time.Second), "in 1 minute (Nov 28 12:01)"},
		{unix(-3 * 24 * time.Hour), "ended 3 days ago (Nov 25)"},
	}
	for _, tt := range tests {
		if got := loginEnds(tt.at, now); got != tt.want {
			t.Errorf("loginEnds(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
}
