package main

// The errors that stop the daemon's start, or a command before it does
// its work, as the person who ran it reads them: in the language of the
// settings, naming what is wrong and saying what to do. The packages that
// find them type them and keep their English words for the log; here they
// are worded from the catalogue.

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/seal"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// startError is err, the error the command of args ended with, as its
// person reads it: a *textError in the language textFor finds, wrapping
// err, for the errors this file words; err as it is for others, and for
// one a command has worded already in other words than err's. Its cause
// stays inside, for logText and errors.Is.
func startError(args []string, getenv func(string) string, err error) error {
	if err == nil || errors.Is(err, config.ErrHelp) || len(args) == 0 {
		return err
	}
	// Read once the error is one to word: it loads the settings again.
	t := sync.OnceValue(func() *i18n.Printer { return textFor(args[1:], getenv) })
	if e, ok := errors.AsType[*store.DamagedFileError](err); ok {
		// The store's words are English, for logs; a person reads this
		// one, from the daemon's start or any command, in the settings'
		// language. It names the file and says what to do: all there is
		// to say.
		return &textError{damagedFileText(t(), e), err}
	}
	msg, cause := personText(t, commandName(args), err)
	if cause == nil {
		return err
	}
	if te, ok := errors.AsType[*textError](err); ok && !strings.Contains(te.msg, cause.Error()) {
		return err
	}
	return &textError{msg, err}
}

// commandName is the command args run, as its --help is asked for: "serve",
// "bus listen".
func commandName(args []string) string {
	if args[0] == "bus" && len(args) > 1 && (args[1] == "listen" || args[1] == "emit") {
		return "bus " + args[1]
	}
	return args[0]
}

// personText words err, the error of command, in the language of the
// printer text returns, and returns the error in its tree it words; a nil
// cause for an error it does not word.
func personText(text func() *i18n.Printer, command string, err error) (string, error) {
	if settings, file := configErrors(err); len(settings) > 0 || file != nil {
		t := text()
		var lines []string
		var cause error
		if file != nil {
			lines, cause = append(lines, fileText(t, file)), file
		}
		for _, e := range settings {
			lines = append(lines, settingText(t, command, e))
			if cause == nil {
				cause = e
			}
		}
		return strings.Join(lines, "\n"), cause
	}
	if e, ok := errors.AsType[*store.KeyError](err); ok {
		return keyText(text(), e), e
	}
	if e, ok := errors.AsType[*seal.ExposedError](err); ok {
		return exposedText(text(), e), e
	}
	if e, ok := errors.AsType[*seal.KeyFileError](err); ok {
		t := text()
		return t.Text(i18n.CLIKeyFileUnusable, "path", e.Path, "problem", keyFileProblem(t, e)), e
	}
	if e, ok := errors.AsType[*store.LockedError](err); ok {
		return text().Text(i18n.CLIStoreLocked, "path", e.Path), e
	}
	if e, ok := errors.AsType[*store.ForeignError](err); ok {
		return text().Text(i18n.CLIStoreForeign, "path", e.Path), e
	}
	if e, ok := errors.AsType[*store.NewerError](err); ok {
		return text().Text(i18n.CLIStoreNewer, "path", e.Path, "version", strconv.Itoa(e.Version), "known", strconv.Itoa(e.Known)), e
	}
	if e, ok := errors.AsType[*portError](err); ok {
		return portText(text(), e), e
	}
	if errors.Is(err, errNoMirrorDir) {
		return text().Text(i18n.CLIMirrorNoHome), errNoMirrorDir
	}
	return flagText(text, command, err)
}

// configErrors are the errors of config.Load in err's tree: one for each
// setting it refused, or the file it could not read.
func configErrors(err error) (settings []*config.SettingError, file *config.FileError) {
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *config.SettingError:
			settings = append(settings, e)
			return
		case *config.FileError:
			file = e
			return
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				walk(err)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return settings, file
}

// settingText says what is wrong with a setting, and where to correct it.
func settingText(t *i18n.Printer, command string, e *config.SettingError) string {
	switch e.Problem {
	case config.ProblemUnknown:
		return t.Text(i18n.CLISettingUnknown, "path", e.Source, "setting", e.Setting)
	case config.ProblemArgument:
		return t.Text(i18n.CLISettingArgument, "value", strconv.Quote(e.Value), "command", command)
	case config.ProblemEmpty:
		if len(e.Or) == 0 {
			return t.Text(i18n.CLISettingEmptyPlain, "setting", e.Setting, "flag", e.Flag())
		}
		return t.Text(i18n.CLISettingEmpty, "setting", e.Setting, "others", strings.Join(e.Or, ", "), "flag", e.Flag())
	}
	value := strconv.Quote(e.Value)
	switch {
	case e.Hidden && e.Size > 0:
		value = t.Text(i18n.CLISettingSecretValue, "bytes", strconv.Itoa(e.Size))
	case e.Hidden:
		value = t.Text(i18n.CLISettingItsValue)
	}
	fix := settingFix(t, e)
	switch {
	case e.Problem == config.ProblemRange && e.Max == "":
		return t.Text(i18n.CLISettingTooShort, "setting", e.Setting, "value", value, "min", e.Min, "fix", fix)
	case e.Problem == config.ProblemRange:
		return t.Text(i18n.CLISettingRange, "setting", e.Setting, "value", value, "min", e.Min, "max", e.Max, "fix", fix)
	}
	return t.Text(i18n.CLISettingInvalid, "setting", e.Setting, "value", value, "want", wantText(t, e), "fix", fix)
}

// settingFix says where to correct a setting: where it was set.
func settingFix(t *i18n.Printer, e *config.SettingError) string {
	switch e.From {
	case config.FromFlag:
		return t.Text(i18n.CLISettingFixFlag, "flag", e.Source)
	case config.FromEnv:
		return t.Text(i18n.CLISettingFixEnv, "name", e.Source)
	case config.FromFile:
		return t.Text(i18n.CLISettingFixFile, "path", e.Source)
	}
	return t.Text(i18n.CLISettingFixDefault, "flag", e.Flag())
}

// wants are the catalogue's words for what a setting takes.
var wants = map[config.Want]i18n.Key{
	config.WantBusURL:     i18n.CLISettingWantBusURL,
	config.WantHostPort:   i18n.CLISettingWantHostPort,
	config.WantPath:       i18n.CLISettingWantPath,
	config.WantPublicHost: i18n.CLISettingWantPublicHost,
	config.WantHost:       i18n.CLISettingWantHost,
	config.WantPort:       i18n.CLISettingWantPort,
	config.WantDuration:   i18n.CLISettingWantDuration,
	config.WantBool:       i18n.CLISettingWantBool,
	config.WantRelayURL:   i18n.CLISettingWantRelayURL,
	config.WantAESKey:     i18n.CLISettingWantAESKey,
	config.WantLang:       i18n.CLISettingWantLang,
	config.WantRoute:      i18n.CLISettingWantRoute,
	config.WantObject:     i18n.CLISettingWantObject,
}

// wantText says what a setting takes.
func wantText(t *i18n.Printer, e *config.SettingError) string {
	if e.Want == config.WantOneOf {
		return t.Text(i18n.CLISettingWantOneOf, "choices", strings.Join(e.Choices, ", "))
	}
	if key, ok := wants[e.Want]; ok {
		return t.Text(key)
	}
	return t.Text(i18n.CLISettingWantValid)
}

// fileText says what is wrong with a file of settings.
func fileText(t *i18n.Printer, e *config.FileError) string {
	switch e.Problem {
	case config.FileSyntax:
		if e.Line > 0 {
			return t.Text(i18n.CLIConfigFileSyntaxLine, "path", e.Path, "format", e.Format, "line", strconv.Itoa(e.Line))
		}
		return t.Text(i18n.CLIConfigFileSyntax, "path", e.Path, "format", e.Format)
	case config.FileName:
		return t.Text(i18n.CLIConfigFileName, "path", e.Path)
	}
	switch {
	case errors.Is(e, fs.ErrNotExist):
		return t.Text(i18n.CLIConfigFileMissing, "path", e.Path)
	case errors.Is(e, fs.ErrPermission):
		return t.Text(i18n.CLIConfigFilePermission, "path", e.Path)
	}
	return t.Text(i18n.CLIConfigFileUnreadable, "path", e.Path, "err", systemText(e))
}

// keyText says why a key file does not open a sealed database.
func keyText(t *i18n.Printer, e *store.KeyError) string {
	switch e.Problem {
	case store.KeyMissing:
		return t.Text(i18n.CLIKeyFileMissing, "path", e.Path, "key", e.KeyFile)
	case store.KeyUnusable:
		problem := t.Text(i18n.CLIKeyFileOther, "err", systemText(e.Err))
		if f, ok := errors.AsType[*seal.KeyFileError](e); ok {
			problem = keyFileProblem(t, f)
		}
		return t.Text(i18n.CLIKeyFileSealedUnusable, "path", e.Path, "key", e.KeyFile, "problem", problem)
	}
	return t.Text(i18n.CLIKeyFileWrong, "key", e.KeyFile, "path", e.Path)
}

// keyFileProblem says what is wrong with a key file.
func keyFileProblem(t *i18n.Printer, e *seal.KeyFileError) string {
	switch {
	case e.Problem == seal.KeyFileNotAKey:
		return t.Text(i18n.CLIKeyFileNotAKey, "bytes", strconv.Itoa(e.Size))
	case errors.Is(e, fs.ErrPermission):
		return t.Text(i18n.CLIKeyFilePermission)
	}
	return t.Text(i18n.CLIKeyFileOther, "err", systemText(e))
}

// exposedText says who besides its owner may use a key file, and the
// command that fixes it.
func exposedText(t *i18n.Printer, e *seal.ExposedError) string {
	var problems []string
	if e.Owner != "" {
		problems = append(problems, t.Text(i18n.CLIKeyFileExposedOwner, "owner", e.Owner, "user", e.User))
	}
	mode := fmt.Sprintf("%04o", e.Mode.Perm())
	switch {
	case e.Others && e.ACL:
		problems = append(problems, t.Text(i18n.CLIKeyFileExposedACL, "mode", mode))
	case e.Others:
		problems = append(problems, t.Text(i18n.CLIKeyFileExposedMode, "mode", mode))
	}
	return t.Text(i18n.CLIKeyFileExposed, "path", e.Path, "problem", strings.Join(problems, "; "), "command", e.Fix)
}

// portText says why the daemon cannot listen on a port, and which flag
// chooses another.
func portText(t *i18n.Printer, e *portError) string {
	switch {
	case errors.Is(e, syscall.EADDRINUSE):
		switch e.use {
		case useMetrics:
			return t.Text(i18n.CLIListenTakenMetrics, "addr", e.addr)
		case useBus:
			return t.Text(i18n.CLIListenTakenBus, "addr", e.addr)
		}
		return t.Text(i18n.CLIListenTakenCallbacks, "addr", e.addr)
	case errors.Is(e, syscall.EACCES):
		return t.Text(i18n.CLIListenPrivileged, "addr", e.addr, "flag", e.use.flag())
	case errors.Is(e, syscall.EADDRNOTAVAIL):
		return t.Text(i18n.CLIListenNotLocal, "addr", e.addr, "flag", e.use.flag())
	}
	return t.Text(i18n.CLIListenFailed, "addr", e.addr, "flag", e.use.flag(), "err", systemText(e))
}

// flagText words pflag's errors of a command's own flags, and returns the
// error it words; a nil cause for any other error.
func flagText(text func() *i18n.Printer, command string, err error) (string, error) {
	if e, ok := errors.AsType[*pflag.NotExistError](err); ok {
		flag := "--" + e.GetSpecifiedName()
		if e.GetSpecifiedShortnames() != "" {
			flag = "-" + e.GetSpecifiedName()
		}
		return text().Text(i18n.CLIFlagErrorUnknown, "flag", flag, "command", command), e
	}
	if e, ok := errors.AsType[*pflag.InvalidSyntaxError](err); ok {
		return text().Text(i18n.CLIFlagErrorUnknown, "flag", e.GetSpecifiedFlag(), "command", command), e
	}
	if e, ok := errors.AsType[*pflag.ValueRequiredError](err); ok {
		flag := "--" + e.GetSpecifiedName()
		if e.GetSpecifiedShortnames() != "" {
			flag = "-" + e.GetSpecifiedName()
		}
		return text().Text(i18n.CLIFlagErrorNeedsValue, "flag", flag, "command", command), e
	}
	if e, ok := errors.AsType[*pflag.InvalidValueError](err); ok {
		return text().Text(i18n.CLIFlagErrorBadValue, "value", strconv.Quote(e.GetValue()), "flag", "--"+e.GetFlag().Name, "command", command), e
	}
	return "", nil
}

// systemText is the system's words for why a call failed ("is a
// directory"), without the call and path around them; err's text when it
// has none.
func systemText(err error) string {
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		return errno.Error()
	}
	return err.Error()
}
