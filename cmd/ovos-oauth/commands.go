package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

func statusCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCLI("status", i18n.CLIUsageStatus, true, args, getenv, stdout, stderr)
	skill := c.flags.String("skill", "", c.text.Text(i18n.CLIFlagSkill))
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	return c.run(ctx, nil, func(ctx context.Context) error {
		rep, err := call[wire.StatusReply](ctx, c, wire.TypeStatus, wire.StatusRequest{SkillID: *skill})
		if err != nil {
			return c.failure("status", err)
		}
		if c.json {
			return c.printJSON(rep)
		}
		if len(rep.Apps) == 0 && len(rep.Damaged) == 0 {
			fmt.Fprintln(stdout, c.text.Text(i18n.CLIStatusNone))
			return nil
		}
		now := time.Now()
		if len(rep.Apps) > 0 {
			w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			t := c.text
			fmt.Fprintln(w, strings.Join([]string{t.Text(i18n.CLIStatusApp), t.Text(i18n.CLIStatusLogin), t.Text(i18n.CLIStatusAuthorized),
				t.Text(i18n.CLIStatusExpires), t.Text(i18n.CLIStatusNextRefresh), t.Text(i18n.CLIStatusLoginEnds), t.Text(i18n.CLIStatusNeeds)}, "\t"))
			for _, a := range rep.Apps {
				fmt.Fprintf(w, "%s %s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.SkillID, a.AppID, a.Login, yesNo(t, a.Authorized),
					when(t, a.ExpiresAt, now), when(t, a.NextRefreshAt, now), loginEnds(t, a.LoginExpiresAt, now), needs(t, a))
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		printDamaged(c.text, stdout, rep)
		return nil
	})
}

// printDamaged tells, in plain words, of the records that were damaged and
// set aside, and what each means for its app now.
func printDamaged(t *i18n.Printer, w io.Writer, rep *wire.StatusReply) {
	var lines []string
	for _, a := range rep.Apps {
		for _, d := range a.Damaged {
			lines = append(lines, a.SkillID+" "+a.AppID+": "+damagedWords(t, d, &a))
		}
	}
	for _, d := range rep.Damaged {
		lines = append(lines, t.Text(i18n.CLIDamagedNotRegistered, "app", d.MungedID)+": "+damagedWords(t, d, nil))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\n"+t.Text(i18n.CLIDamagedIntro))
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
}

// damagedWords says what a damaged record means for its app a, nil when
// the app is not registered now.
func damagedWords(t *i18n.Printer, d wire.DamagedRecord, a *wire.AppStatus) string {
	at := dateTime(t, time.UnixMicro(int64(d.At*1e6)).Local())
	login := ""
	if a != nil {
		login = "ovos-oauth login " + a.SkillID + " " + a.AppID
	}
	switch d.Record {
	case "token":
		switch {
		case a == nil:
			return t.Text(i18n.CLIDamagedTokenUnregistered, "time", at)
		case a.Authorized:
			return t.Text(i18n.CLIDamagedTokenAgain, "time", at)
		}
		return t.Text(i18n.CLIDamagedToken, "time", at, "command", login)
	case "app":
		if a == nil {
			return t.Text(i18n.CLIDamagedAppUnregistered, "time", at)
		}
		return t.Text(i18n.CLIDamagedApp, "time", at)
	case "login":
		if a != nil && !a.Authorized && a.Flow == nil {
			return t.Text(i18n.CLIDamagedLoginRestart, "time", at, "command", login)
		}
		return t.Text(i18n.CLIDamagedLogin, "time", at)
	}
	return t.Text(i18n.CLIDamagedOther, "record", recordWord(t, d.Record), "time", at, "reason", damageWords(t, d.Reason))
}

func yesNo(t *i18n.Printer, b bool) string {
	if b {
		return t.Text(i18n.CLIYes)
	}
	return t.Text(i18n.CLINo)
}

// when is a Unix time as people read it: relative, and the local clock.
func when(p *i18n.Printer, unix *float64, now time.Time) string {
	if unix == nil {
		return "-"
	}
	t := time.UnixMicro(int64(*unix * 1e6))
	d := t.Sub(now).Round(time.Second)
	if d < 0 {
		return p.Text(i18n.CLIWhenAgo, "duration", (-d).String(), "time", dateTime(p, t.Local()))
	}
	return p.Text(i18n.CLIWhenIn, "duration", d.String(), "time", dateTime(p, t.Local()))
}

// months are the keys of the months' short names, January first.
var months = [12]i18n.Key{i18n.CLIMonthJan, i18n.CLIMonthFeb, i18n.CLIMonthMar, i18n.CLIMonthApr, i18n.CLIMonthMay, i18n.CLIMonthJun,
	i18n.CLIMonthJul, i18n.CLIMonthAug, i18n.CLIMonthSep, i18n.CLIMonthOct, i18n.CLIMonthNov, i18n.CLIMonthDec}

// date is t's day and month as the language writes them: "Nov 28",
// "28. Nov.".
func date(p *i18n.Printer, t time.Time) string {
	return p.Text(i18n.CLIDate, "month", p.Text(months[t.Month()-1]), "day", strconv.Itoa(t.Day()))
}

// dateTime is date with the time of day on a 24-hour clock.
func dateTime(p *i18n.Printer, t time.Time) string {
	return date(p, t) + " " + t.Format("15:04")
}

// loginEnds is when a login ends, in the words a person uses: "in 12
// days (Dec 10)".
func loginEnds(p *i18n.Printer, unix *float64, now time.Time) string {
	if unix == nil {
		return "-"
	}
	t := time.UnixMicro(int64(*unix * 1e6)).Local()
	d := t.Sub(now)
	day := date(p, t)
	if d < 48*time.Hour && d > -48*time.Hour {
		day = dateTime(p, t)
	}
	if d <= 0 {
		return p.Text(i18n.CLILoginEndsAgo, "amount", roughly(p, -d), "date", day)
	}
	return p.Text(i18n.CLILoginEndsIn, "amount", roughly(p, d), "date", day)
}

// roughly is a duration rounded to its largest unit: "6 months", "12
// days", "5 hours".
func roughly(p *i18n.Printer, d time.Duration) string {
	const day = 24 * time.Hour
	size, one, many := time.Minute, i18n.CLIUnitMinute, i18n.CLIUnitMinutes
	switch {
	case d >= 60*day:
		size, one, many = 30*day+10*time.Hour, i18n.CLIUnitMonth, i18n.CLIUnitMonths // a twelfth of a year
	case d >= day:
		size, one, many = day, i18n.CLIUnitDay, i18n.CLIUnitDays
	case d >= time.Hour:
		size, one, many = time.Hour, i18n.CLIUnitHour, i18n.CLIUnitHours
	}
	n := int64((d + size/2) / size)
	if n == 1 {
		return p.Text(one, "n", "1")
	}
	return p.Text(many, "n", strconv.FormatInt(n, 10))
}

// needs is what the user must do for an app.
func needs(t *i18n.Printer, a wire.AppStatus) string {
	var out []string
	switch {
	case a.NeedsCreds:
		out = append(out, t.Text(i18n.CLINeedsCredentials))
	case a.NeedsReauth:
		out = append(out, t.Text(i18n.CLINeedsNewLogin, "command", "ovos-oauth login "+a.SkillID+" "+a.AppID))
	case !a.Authorized:
		out = append(out, t.Text(i18n.CLINeedsLogin, "command", "ovos-oauth login "+a.SkillID+" "+a.AppID))
	}
	if a.Flow != nil {
		out = append(out, t.Text(i18n.CLINeedsPending, "flow", *a.Flow))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, "; ")
}

func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCLI("token", i18n.CLIUsageToken, true, args, getenv, stdout, stderr)
	ref, err := c.parseApp(args)
	if err != nil {
		return err
	}
	skillID, appID := ref.SkillID, ref.AppID
	return c.run(ctx, nil, func(ctx context.Context) error {
		rep, err := call[wire.TokenGetReply](ctx, c, wire.TypeTokenGet, ref)
		if err != nil {
			return c.failure("token", hint(c.text, err, skillID, appID))
		}
		if c.json {
			return c.printJSON(rep)
		}
		_, err = fmt.Fprintln(stdout, rep.AccessToken)
		return err
	})
}

// hint adds what to do to the errors a person can fix.
func hint(t *i18n.Printer, err error, skillID, appID string) error {
	re, ok := errors.AsType[*wire.ReplyError](err)
	if !ok {
		return err
	}
	switch re.Code {
	case "not_authorized", "reauth_required":
		return fmt.Errorf("%w (%s)", err, t.Text(i18n.CLIHintLogin, "command", "ovos-oauth login "+skillID+" "+appID))
	case "unknown_app":
		return fmt.Errorf("%w (%s)", err, t.Text(i18n.CLIHintUnknownApp))
	case "needs_credentials":
		return fmt.Errorf("%w (%s)", err, t.Text(i18n.CLIHintCredentials))
	}
	return err
}

func revokeCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCLI("revoke", i18n.CLIUsageRevoke, true, args, getenv, stdout, stderr)
	unregister := c.flags.Bool("unregister", false, c.text.Text(i18n.CLIFlagUnregister))
	ref, err := c.parseApp(args)
	if err != nil {
		return err
	}
	skillID, appID := ref.SkillID, ref.AppID
	return c.run(ctx, nil, func(ctx context.Context) error {
		rep, err := call[wire.RevokeReply](ctx, c, wire.TypeRevoke, ref)
		if err != nil {
			return c.failure("revoke", err)
		}
		out := map[string]any{"skill_id": skillID, "app_id": appID, "revoked": rep.Revoked, "forgotten": rep.Forgotten, "reason": rep.Reason}
		if *unregister {
			un, err := call[wire.UnregisterReply](ctx, c, wire.TypeUnregister, ref)
			if err != nil {
				return c.failure("unregister", err)
			}
			out["removed"] = un.Removed
		}
		if c.json {
			return c.printJSON(out)
		}
		app := skillID + " " + appID
		switch {
		case rep.Revoked:
			fmt.Fprintln(stdout, c.text.Text(i18n.CLIRevoked, "app", app))
		case rep.Forgotten:
			fmt.Fprintln(stdout, c.text.Text(i18n.CLIForgotten, "app", app))
			fmt.Fprintln(stdout, c.text.Text(i18n.CLIForgottenHint))
		default:
			fmt.Fprintln(stdout, c.text.Text(i18n.CLINoToken, "app", app))
		}
		if removed, ok := out["removed"].(bool); ok && removed {
			fmt.Fprintln(stdout, c.text.Text(i18n.CLIUnregistered, "app", skillID+" "+appID))
		}
		return nil
	})
}

func loginCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCLI("login", i18n.CLIUsageLogin, true, args, getenv, stdout, stderr)
	var reg wire.RegisterRequest
	fs, t := c.flags, c.text
	fs.StringVar(&reg.Provider, "provider", "", t.Text(i18n.CLIFlagProvider))
	fs.StringVar(&reg.ClientID, "client-id", "", t.Text(i18n.CLIFlagClientID))
	fs.StringVar(&reg.ClientSecret, "client-secret", "", t.Text(i18n.CLIFlagClientSecret))
	scope := fs.String("scope", "", t.Text(i18n.CLIFlagScope))
	fs.StringVar(&reg.AuthEndpoint, "auth-endpoint", "", t.Text(i18n.CLIFlagAuthEndpoint))
	fs.StringVar(&reg.TokenEndpoint, "token-endpoint", "", t.Text(i18n.CLIFlagTokenEndpoint))
	fs.StringVar(&reg.DeviceEndpoint, "device-endpoint", "", t.Text(i18n.CLIFlagDeviceEndpoint))
	fs.StringVar(&reg.RevocationEndpoint, "revocation-endpoint", "", t.Text(i18n.CLIFlagRevocationEndpoint))
	fs.StringVar(&reg.InstanceURL, "instance-url", "", t.Text(i18n.CLIFlagInstanceURL))
	fs.StringVar(&reg.Login, "login-mode", "", t.Text(i18n.CLIFlagLoginMode))
	wait := fs.Duration("wait", 10*time.Minute, t.Text(i18n.CLIFlagWait))
	noQR := fs.Bool("no-qr", false, t.Text(i18n.CLIFlagNoQR))
	ref, err := c.parseApp(args)
	if err != nil {
		return err
	}
	skillID, appID := ref.SkillID, ref.AppID
	if reg.ClientSecret == "" {
		reg.ClientSecret = getenv("OVOS_OAUTH_CLIENT_SECRET")
	}
	reg.Scope = wire.Scope(*scope)
	register := reg.Provider != "" || reg.ClientID != "" || reg.AuthEndpoint != "" || reg.TokenEndpoint != "" ||
		reg.DeviceEndpoint != "" || reg.RevocationEndpoint != "" || reg.InstanceURL != "" || reg.Login != "" || *scope != ""
	if reg.ClientSecret != "" && !register {
		return wrongUsage(c.text.Text(i18n.CLILoginSecretAlone))
	}
	reg.AppRef = ref
	return c.run(ctx, nil, func(ctx context.Context) error {
		if register {
			if err := registerForLogin(ctx, c, reg); err != nil {
				return err
			}
		}
		// Listen for the outcome before the login can end.
		id := ref.MungedID()
		outcome, stop := c.client.Watch(func(t string) bool {
			return t == wire.PrefixTokenResponse+id || t == wire.PrefixTokenError+id
		}, 4)
		defer stop()
		u, err := call[wire.URLReply](ctx, c, wire.TypeGet, ref)
		if err != nil {
			return c.failure("login", hint(c.text, err, skillID, appID))
		}
		if c.json {
			if err := c.printJSON(u); err != nil {
				return err
			}
		} else {
			printLogin(c.text, stdout, skillID, appID, u, !*noQR)
		}
		return awaitLogin(ctx, c, outcome, *wait)
	})
}

// registerForLogin registers the app that login logs in, as reg says, and
// tells the user how.
func registerForLogin(ctx context.Context, c *cli, reg wire.RegisterRequest) error {
	skillID, appID := reg.SkillID, reg.AppID
	r, err := call[wire.RegisterReply](ctx, c, wire.TypeRegister, reg)
	if err != nil {
		return c.failure("register", hint(c.text, err, skillID, appID))
	}
	if c.json {
		return nil
	}
	if r.RedirectURI != "" {
		fmt.Fprintln(c.stdout, c.text.Text(i18n.CLIRegisteredRedirect, "app", skillID+" "+appID, "mode", r.Login, "uri", r.RedirectURI))
	} else {
		fmt.Fprintln(c.stdout, c.text.Text(i18n.CLIRegistered, "app", skillID+" "+appID, "mode", r.Login))
	}
	if r.Warning != "" {
		fmt.Fprintln(c.stdout, c.text.Text(i18n.CLIWarning, "warning", r.Warning))
	}
	return nil
}

// awaitLogin waits at most wait for the login's outcome, the first frame
// on outcome, and returns it as login's result.
func awaitLogin(ctx context.Context, c *cli, outcome <-chan bus.Message, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case m := <-outcome:
		return loginOutcome(c, m)
	case <-timer.C:
		return &exitError{exitFailed, errors.New(c.text.Text(i18n.CLILoginTimeout, "wait", wait.String()))}
	case <-ctx.Done():
		return &exitError{exitFailed, errors.New(c.text.Text(i18n.CLILoginInterrupted))}
	}
}

// printLogin tells the user where to log in, or for an app without a
// client id where the setup page is that takes one and goes on into the
// login. A device login's address and code come last, under the QR code,
// where the eye ends and a long QR code cannot push them off the screen.
func printLogin(t *i18n.Printer, w io.Writer, skillID, appID string, u *wire.URLReply, drawQR bool) {
	link := *u.Link
	open := t.Text(i18n.CLILoginOpen, "app", skillID+" "+appID)
	if u.NeedsCredentials {
		open = t.Text(i18n.CLILoginSetup, "app", skillID+" "+appID)
	}
	fmt.Fprintf(w, "%s\n\n  %s\n\n", open, link)
	if drawQR {
		if art, err := qr.Terminal(link); err == nil {
			fmt.Fprintln(w, art)
		}
	}
	if u.UserCode != "" {
		fmt.Fprintf(w, "%s\n\n", t.Text(i18n.CLILoginCode, "address", qr.ShortAddress(u.VerificationURI), "code", u.UserCode))
	}
	if u.UserCode == "" && *u.URL != link {
		fmt.Fprintf(w, "%s\n\n", t.Text(i18n.CLILoginBrowser, "url", *u.URL))
	}
	fmt.Fprintln(w, t.Text(i18n.CLILoginWaiting))
}

// loginOutcome reports a token or an error event.
func loginOutcome(c *cli, m bus.Message) error {
	if strings.HasPrefix(m.Type, wire.PrefixTokenError) {
		var e wire.LoginError
		_ = m.DecodeData(&e)
		return &exitError{exitFailed, fmt.Errorf("%s: %w", c.text.Text(i18n.CLILoginFailed), e.Err())}
	}
	var tok wire.Token
	if err := m.DecodeData(&tok); err != nil {
		return &exitError{exitFailed, fmt.Errorf("login: the token event does not decode: %w", err)}
	}
	var expires *float64
	if tok.ExpiresAt != 0 {
		expires = &tok.ExpiresAt
	}
	if c.json {
		// Never the token itself: it is for the app, not the terminal.
		return c.printJSON(map[string]any{"authorized": true, "expires_at": expires, "scope": tok.Scope})
	}
	fmt.Fprintln(c.stdout, c.text.Text(i18n.CLILoginDone, "when", when(c.text, expires, time.Now())))
	return nil
}

func busCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	t := textFor(args, getenv)
	if len(args) == 0 {
		fmt.Fprintln(stderr, t.Text(i18n.CLIUsageBus))
		return wrongUsage(t.Text(i18n.CLIBusWhich))
	}
	switch args[0] {
	case "listen":
		return busListen(ctx, args[1:], getenv, stdout, stderr)
	case "emit":
		return busEmit(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, t.Text(i18n.CLIUsageBus))
		return nil
	}
	return wrongUsage(t.Text(i18n.CLIBusUnknown, "command", strconv.Quote(args[0])))
}

// globMatch reports whether typ matches pattern, where * matches any run
// of characters (dots too).
func globMatch(pattern, typ string) bool {
	// path.Match's * stops at '/', which a type has none of.
	ok, err := path.Match(pattern, typ)
	return err == nil && ok
}

// printer is the Handler of bus listen: the read loop hands it frames,
// which it passes to the command's goroutine through a buffer.
type printer struct {
	pattern string
	frames  chan bus.Message
	dropped chan struct{}
}

func (p *printer) Handles(typ string) bool { return globMatch(p.pattern, typ) }
func (p *printer) Invalid(string, error)   {}
func (p *printer) Dispatch(m bus.Message) {
	select {
	case p.frames <- m:
	default:
		select {
		case p.dropped <- struct{}{}:
		default:
		}
	}
}

func busListen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCLI("bus listen", i18n.CLIUsageBusListen, false, args, getenv, stdout, stderr)
	count := c.flags.Int("count", 0, c.text.Text(i18n.CLIFlagCount))
	rest, err := c.parse(args, 0, 1)
	if err != nil {
		return err
	}
	pattern := "*"
	if len(rest) == 1 {
		pattern = rest[0]
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return wrongUsage(c.text.Text(i18n.CLIBusBadPattern, "pattern", strconv.Quote(pattern), "err", err.Error()))
	}
	p := &printer{pattern: pattern, frames: make(chan bus.Message, 4096), dropped: make(chan struct{}, 1)}
	return c.run(ctx, p, func(ctx context.Context) error {
		fmt.Fprintln(stderr, c.text.Text(i18n.CLIBusListening, "url", bus.RedactURL(c.cfg.BusURL), "pattern", pattern))
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for n := 0; *count == 0 || n < *count; n++ {
			select {
			case <-ctx.Done():
				return nil
			case <-p.dropped:
				fmt.Fprintln(stderr, c.text.Text(i18n.CLIBusDropped))
				n--
			case m := <-p.frames:
				if err := enc.Encode(m); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func busEmit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCLI("bus emit", i18n.CLIUsageBusEmit, false, args, getenv, stdout, stderr)
	replyType := c.flags.String("reply", "", c.text.Text(i18n.CLIFlagReply))
	rest, err := c.parse(args, 1, 2)
	if err != nil {
		return err
	}
	typ := rest[0]
	data := json.RawMessage("{}")
	if len(rest) == 2 {
		if !json.Valid([]byte(rest[1])) || !strings.HasPrefix(strings.TrimSpace(rest[1]), "{") {
			return wrongUsage(c.text.Text(i18n.CLIBusNotObject, "data", strconv.Quote(rest[1])))
		}
		data = json.RawMessage(rest[1])
	}
	// bus.Client.Send adds the default session, as ovos-bus-client's emit.
	m := bus.Message{Type: typ, Data: data, Context: map[string]json.RawMessage{
		"source": json.RawMessage(`"ovos-oauth-cli"`),
	}}
	if _, err := m.MarshalJSON(); err != nil {
		return usageErr("bus emit: %v", err)
	}
	return c.run(ctx, nil, func(ctx context.Context) error {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		want := typ // the bus relays every frame to its sender too
		if *replyType != "" {
			want = *replyType
		}
		r, err := c.client.Request(cctx, m, want)
		if err != nil {
			if *replyType == "" {
				return c.failure("bus emit", err)
			}
			return &exitError{exitNoDaemon, errors.New(c.text.Text(i18n.CLIBusNoReply, "type", want, "timeout", c.timeout.String()))}
		}
		if *replyType == "" {
			fmt.Fprintln(stderr, c.text.Text(i18n.CLIBusSent, "type", typ))
			return nil
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	})
}
