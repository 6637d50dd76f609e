package main

import (
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// TestLoginEndsInWords: ovos-oauth status says when a login ends as a
// person reads it: "in 12 days".
func TestLoginEndsInWords(t *testing.T) {
	t.Parallel()
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
	en := i18n.For("en-us")
	for _, tt := range tests {
		if got := loginEnds(en, tt.at, now); got != tt.want {
			t.Errorf("loginEnds(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
	// In German, both ways take the dative plural, and the date is
	// German: no English month.
	de := i18n.For("de-de")
	for at, want := range map[*float64]string{
		unix(182 * 24 * time.Hour): "in 6 Monaten (29. Mai)",
		unix(-3 * 24 * time.Hour):  "endete vor 3 Tagen (25. Nov.)",
		unix(80 * time.Second):     "in 1 Minute (28. Nov. 12:01)",
		unix(59 * 24 * time.Hour):  "in 59 Tagen (26. Jan.)",
	} {
		if got := loginEnds(de, at, now); got != want {
			t.Errorf("loginEnds(de, %v) = %q, want %q", at, got, want)
		}
	}
	if got, want := when(de, unix(-90*time.Minute), now), "vor 1h30m0s (28. Nov. 10:30)"; got != want {
		t.Errorf("when(de) = %q, want %q", got, want)
	}
	if got, want := when(en, unix(90*time.Minute), now), "in 1h30m0s (Nov 28 13:30)"; got != want {
		t.Errorf("when(en) = %q, want %q", got, want)
	}
}
