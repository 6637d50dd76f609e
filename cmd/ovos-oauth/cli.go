package main

// The CLI for people: commands that talk to a running ovos-oauth over the
// bus, as skills do, with the typed messages of package wire.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// Exit codes of every command.
const (
	exitOK       = 0
	exitFailed   = 1 // the daemon answered with an error, or the login failed
	exitUsage    = 2 // wrong flags or arguments
	exitNoDaemon = 3 // no bus, or no answer from ovos-oauth in time
)

// exitError is an error with the exit status it ends the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// wrongUsage is the error of wrong usage that says msg, a sentence of the
// catalogue.
func wrongUsage(msg string) error {
	return &exitError{exitUsage, errors.New(msg)}
}

// textError is an error that says msg, a sentence of the catalogue in
// which the text of err, its cause, stands; it wraps err.
type textError struct {
	msg string
	err error
}

func (e *textError) Error() string { return e.msg }
func (e *textError) Unwrap() error { return e.err }

// logText is err as the log keeps it: English, the cause of a textError
// rather than its words for a person.
func logText(err error) error {
	if e, ok := err.(*textError); ok && e.err != nil {
		return e.err
	}
	return err
}

// textFor is the printer of a command's output before it has parsed its
// flags: in the language config.Lang finds in args and the environment,
// so that its --help and its usage errors speak it too.
func textFor(args []string, getenv func(string) string) *i18n.Printer {
	return i18n.For(config.Lang(args, getenv))
}

// helpText is a command's --help: the text of usage, its flags, then
// after.
func helpText(t *i18n.Printer, usage i18n.Key, fs *pflag.FlagSet, after string) string {
	return t.Text(usage) + "\n\n" + t.Text(i18n.CLIUsageFlags) + "\n" + config.FlagUsages(t, fs) + after
}

// plural is n things in words, one or many of them: "1 app", "3 apps".
func plural(t *i18n.Printer, n int, one, many i18n.Key) string {
	if n == 1 {
		return t.Text(one, "n", "1")
	}
	return t.Text(many, "n", strconv.Itoa(n))
}

// columnWidth is the width of a column of words with text after them: at
// least least runes, and one more than the widest word, whatever its
// language.
func columnWidth(least int, words ...string) int {
	width := least
	for _, w := range words {
		width = max(width, utf8.RuneCountInString(w)+1)
	}
	return width
}

// padTo is s with spaces up to width runes.
func padTo(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s)))
}

// mainUsage is "ovos-oauth --help", in the language of args.
func mainUsage(args []string, getenv func(string) string) string {
	return textFor(args, getenv).Text(i18n.CLIUsageMain) + "\n"
}

// noCommand tells of a call of ovos-oauth without a command.
func noCommand(getenv func(string) string, stderr io.Writer) error {
	fmt.Fprint(stderr, mainUsage(nil, getenv))
	return wrongUsage(textFor(nil, getenv).Text(i18n.CLINoCommand))
}

// unknownCommand tells of a call of ovos-oauth with a command it lacks,
// args[0].
func unknownCommand(args []string, getenv func(string) string, stderr io.Writer) error {
	fmt.Fprint(stderr, mainUsage(args[1:], getenv))
	return wrongUsage(textFor(args[1:], getenv).Text(i18n.CLIUnknownCommand, "command", strconv.Quote(args[0])))
}

// exitCode is the status err ends the process with.
func exitCode(err error) int {
	if err == nil || errors.Is(err, config.ErrHelp) {
		return exitOK
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	return exitFailed
}

// cli is what every bus command shares: its flags, the settings read from
// the same config stack as the daemon's, and the bus connection.
type cli struct {
	name    string
	flags   *pflag.FlagSet
	busURL  string
	config  string
	timeout time.Duration
	json    bool
	lang    string
	getenv  func(string) string
	stdout  io.Writer
	stderr  io.Writer

	cfg    config.Config
	client *bus.Client
	// text is the language of the command's output, as textFor finds it
	// in the arguments, then the settings' lang.
	text *i18n.Printer
}

// newCLI makes the flag set of command name, which args are given to;
// usage is the text above the flags, withJSON adds --json.
func newCLI(name string, usage i18n.Key, withJSON bool, args []string, getenv func(string) string, stdout, stderr io.Writer) *cli {
	t := textFor(args, getenv)
	c := &cli{name: name, getenv: getenv, stdout: stdout, stderr: stderr, text: t}
	fs := pflag.NewFlagSet("ovos-oauth "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { fmt.Fprint(stderr, helpText(t, usage, fs, "\n"+t.Text(i18n.CLIUsageExitCodes)+"\n")) }
	fs.StringVar(&c.busURL, "bus-url", "", t.Text(i18n.CLIFlagBusURL))
	fs.StringVar(&c.config, "config", "", t.Text(i18n.CLIFlagConfig))
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, t.Text(i18n.CLIFlagTimeout))
	fs.StringVar(&c.lang, "lang", "", t.Text(i18n.CLIFlagLang))
	if withJSON {
		fs.BoolVar(&c.json, "json", false, t.Text(i18n.CLIFlagJSON))
	}
	c.flags = fs
	return c
}

// parse reads the command's flags and returns its positional arguments,
// of which it takes from minArgs to maxArgs.
func (c *cli) parse(args []string, minArgs, maxArgs int) ([]string, error) {
	if err := c.flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, config.ErrHelp
		}
		return nil, &exitError{exitUsage, err}
	}
	rest := c.flags.Args()
	if len(rest) < minArgs || len(rest) > maxArgs {
		c.flags.Usage()
		return nil, wrongUsage(c.text.Text(i18n.CLIWrongArgs, "command", c.name))
	}
	if c.timeout <= 0 {
		return nil, wrongUsage(c.text.Text(i18n.CLITimeoutPositive, "command", c.name))
	}
	return rest, nil
}

// connect reads the bus settings as the daemon does and attaches to the
// bus; h gets the frames it handles (nil: none). The connection lasts
// until ctx ends; the caller waits on the returned channel for it to close.
func (c *cli) connect(ctx context.Context, h bus.Handler) (done <-chan struct{}, err error) {
	var conf []string
	if c.busURL != "" {
		conf = append(conf, "--bus-url", c.busURL)
	}
	if c.config != "" {
		conf = append(conf, "--config", c.config)
	}
	if c.lang != "" {
		conf = append(conf, "--lang", c.lang)
	}
	cfg, err := config.Load(conf, c.getenv, c.stderr)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	c.cfg = cfg
	c.text = i18n.For(cfg.Lang)
	if h == nil {
		h = noFrames{}
	}
	client, err := newBusClient(cfg, cfg.BusURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	client.MinBackoff, client.MaxBackoff = 100*time.Millisecond, time.Second
	c.client = client
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		_ = client.Run(ctx, h)
	}()
	return ch, nil
}

// noFrames is the Handler of a command that only sends requests.
type noFrames struct{}

func (noFrames) Handles(string) bool   { return false }
func (noFrames) Dispatch(bus.Message)  {}
func (noFrames) Invalid(string, error) {}

// waitConnected waits up to the timeout for the bus.
func (c *cli) waitConnected(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !c.client.Connected() {
		select {
		case <-ctx.Done():
			return c.noBus()
		case <-tick.C:
		}
	}
	return nil
}

func (c *cli) noBus() error {
	return &exitError{exitNoDaemon, errors.New(c.text.Text(i18n.CLINoBus, "url", bus.RedactURL(c.cfg.BusURL), "timeout", c.timeout.String()))}
}

// failure turns the error of a call into the command's: no answer is exit
// 3, the daemon's error exit 1.
func (c *cli) failure(what string, err error) error {
	if errors.Is(err, bus.ErrNoReply) {
		if !c.client.Connected() {
			return c.noBus()
		}
		return &exitError{exitNoDaemon, errors.New(c.text.Text(i18n.CLINoAnswer, "what", what, "timeout", c.timeout.String()))}
	}
	return &exitError{exitFailed, fmt.Errorf("%s: %w", what, err)}
}

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// call sends a request and decodes its reply, as wire.Call, asking again
// while the daemon answers "busy" (it is working through other requests of
// the app) until the timeout.
func call[R any, PR interface {
	*R
	wire.Failer
}](ctx context.Context, c *cli, typ string, req any) (*R, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for {
		rep, err := wire.Call[R, PR](ctx, c.client, typ, req)
		if re, ok := errors.AsType[*wire.ReplyError](err); !ok || re.Code != "busy" {
			return rep, err
		}
		select {
		case <-ctx.Done():
			return rep, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// callCtx is ctx bounded by the timeout, for one request.
func (c *cli) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// run runs a command's body with the bus attached, then detaches.
func (c *cli) run(ctx context.Context, h bus.Handler, body func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	done, err := c.connect(ctx, h)
	if err != nil {
		cancel()
		return err
	}
	defer func() {
		cancel()
		<-done
	}()
	if err := c.waitConnected(ctx); err != nil {
		return err
	}
	return body(ctx)
}

// parseApp reads the arguments of a command about one app:
// SKILL_ID APP_ID.
func (c *cli) parseApp(args []string) (wire.AppRef, error) {
	rest, err := c.parse(args, 2, 2)
	if err != nil {
		return wire.AppRef{}, err
	}
	for _, id := range rest {
		if id == "" || strings.ContainsAny(id, "/ \t\n") {
			return wire.AppRef{}, wrongUsage(c.text.Text(i18n.CLIBadID, "id", strconv.Quote(id)))
		}
	}
	return wire.AppRef{SkillID: rest[0], AppID: rest[1]}, nil
}

// newBusClient is a client of the bus at url, encrypted when cfg has the
// bus's key: the daemon's and the CLI's.
func newBusClient(cfg config.Config, url string, logger *slog.Logger) (*bus.Client, error) {
	client := bus.NewClient(url, logger)
	if key := cfg.BusSecretKey.Reveal(); key != "" {
		var err error
		if client.Cipher, err = bus.NewCipher(key); err != nil {
			return nil, fmt.Errorf("bus_secret_key: %w", err) // Load has checked it
		}
		client.AllowUnencrypted = cfg.BusAllowUnencrypted
	}
	return client, nil
}
