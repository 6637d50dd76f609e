package config

import (
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// FlagUsages is fs.FlagUsages in the language of p. pflag writes each
// default in English, "(default 5s)", and names a value it has no name
// for by its Go type ("--timeout duration"), with no way to word either
// otherwise; so the flags are copied, the default moved into the usage
// and the value given a name, both from the catalogue, and pflag formats
// the rest.
func FlagUsages(p *i18n.Printer, fs *pflag.FlagSet) string {
	out := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
	out.SortFlags = fs.SortFlags
	fs.VisitAll(func(f *pflag.Flag) {
		g := *f
		hasDefault := printsDefault(f, f.DefValue)
		if key, ok := valueNames[f.Value.Type()]; ok && !strings.Contains(f.Usage, "`") {
			g.Value = namedValue{f.Value, p.Text(key)}
		}
		if hasDefault {
			value := f.DefValue
			if f.Value.Type() == "string" {
				value = strconv.Quote(value)
			}
			g.Usage = strings.TrimSpace(f.Usage + " " + p.Text(i18n.CLIFlagDefault, "value", value))
			for _, zero := range []string{"", "0", "0s", "false", "[]", "<nil>"} {
				if !printsDefault(&g, zero) {
					g.DefValue = zero
					break
				}
			}
		}
		out.AddFlag(&g)
	})
	return out.FlagUsages()
}

// valueNames are the catalogue's names of the values of a type, for a
// flag whose usage names none in `backquotes`.
var valueNames = map[string]i18n.Key{
	"duration": i18n.CLIFlagTypeDuration,
	"string":   i18n.CLIFlagTypeString,
	"int":      i18n.CLIFlagTypeInt,
}

// namedValue is a flag's value whose type pflag prints as its name.
type namedValue struct {
	pflag.Value
	name string
}

func (v namedValue) Type() string { return v.name }

// printsDefault reports whether pflag prints f's default when it is def.
// pflag's test of a zero default is its own and unexported, so it is
// asked: a copy of f is formatted alone.
func printsDefault(f *pflag.Flag, def string) bool {
	g := *f
	g.Usage, g.DefValue = "", def
	one := pflag.NewFlagSet("", pflag.ContinueOnError)
	one.AddFlag(&g)
	return strings.Contains(one.FlagUsages(), "(default ")
}
