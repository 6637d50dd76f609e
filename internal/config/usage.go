package config

import (
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// FlagUsages is fs.FlagUsages with each flag's default in the language of
// p: pflag writes it in English, "(default 5s)", and offers no way to
// word it otherwise. The flags are copied with the default moved into
// their usage, worded by the catalogue, and pflag formats the rest.
func FlagUsages(p *i18n.Printer, fs *pflag.FlagSet) string {
	out := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
	out.SortFlags = fs.SortFlags
	fs.VisitAll(func(f *pflag.Flag) {
		g := *f
		if zero, ok := zeroDefault(f); ok {
			value := f.DefValue
			if f.Value.Type() == "string" {
				value = strconv.Quote(value)
			}
			g.Usage = strings.TrimSpace(f.Usage + " " + p.Text(i18n.CLIFlagDefault, "value", value))
			g.DefValue = zero
		}
		out.AddFlag(&g)
	})
	return out.FlagUsages()
}

// zeroDefault reports whether pflag would print f's default, and then a
// DefValue it takes for none. pflag's test of a zero default is its own
// and unexported, so it is asked: a copy of f is formatted alone.
func zeroDefault(f *pflag.Flag) (string, bool) {
	prints := func(def string) bool {
		g := *f
		g.Usage, g.DefValue = "", def
		one := pflag.NewFlagSet("", pflag.ContinueOnError)
		one.AddFlag(&g)
		return strings.Contains(one.FlagUsages(), "(default ")
	}
	if !prints(f.DefValue) {
		return "", false
	}
	for _, zero := range []string{"", "0", "0s", "false", "[]", "<nil>"} {
		if !prints(zero) {
			return zero, true
		}
	}
	return "", false // a type whose zero pflag knows but this does not: English, not lost
}
