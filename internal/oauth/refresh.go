package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Refresh gets a new access token with the app's refresh token now. Callers
// asking at the same time share one request to the provider.
func (e *Engine) Refresh(ctx context.Context, skillID, appID string) (*App, *Token, error) {
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, nil, err
	}
	tok, err := e.refreshShared(ctx, app.MungedID(), nil)
	return app, tok, err
}

// Token returns a usable access token for the app, refreshing it first when
// it is due: within RefreshMargin of its expiry, and past half its life.
func (e *Engine) Token(ctx context.Context, skillID, appID string) (*App, *Token, error) {
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, nil, err
	}
	// The stored token: one refreshed but not saved yet is not handed out.
	tok, err := e.storedToken(app.MungedID())
	if err != nil {
		return app, nil, err
	}
	if app.NeedsReauth {
		return app, nil, errorf(CodeReauthRequired, "the provider no longer accepts this login; log in again")
	}
	now := e.Now()
	stillValid := tok.Expiry.IsZero() || now.Before(tok.Expiry)
	if e.handOut(tok, now) {
		return app, tok, nil
	}
	if tok.RefreshToken == "" {
		return app, nil, errorf(CodeReauthRequired, "the token expired and the provider gave no refresh token; log in again")
	}
	if stillValid {
		// A skill waits for its answer about 3 s: while the token in hand
		// still works, wait for the refresh only briefly. The refresh goes
		// on and its result is stored for the next asker.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.TokenWait)
		defer cancel()
	}
	fresh, err := e.refreshShared(ctx, app.MungedID(), tok)
	if err != nil {
		if stillValid && ErrorCode(err) == CodeProviderUnavailable {
			return app, tok, nil
		}
		return app, nil, err
	}
	return app, fresh, nil
}

// handOut reports whether Token hands tok out as it is at now, without a
// refresh. It is refreshed on the same rule as the schedule's, so a token
// shorter-lived than RefreshMargin is not refreshed on every request.
func (e *Engine) handOut(tok *Token, now time.Time) bool {
	if due, ok := e.refreshDue(tok); ok {
		return now.Before(due)
	}
	return tok.Expiry.IsZero() || now.Before(tok.Expiry)
}

// memoryStore is a Store that keeps apps and tokens decoded in memory, as
// store.DB does, and hands them out without touching the disk or waiting
// for a lock held across it.
type memoryStore interface {
	// CachedApp returns the app with the munged id if memory holds it.
	CachedApp(mungedID string) (*App, bool)
	// CachedToken returns the app's token if memory holds it; nil with
	// true for an app known to have none.
	CachedToken(mungedID string) (*Token, bool)
}

// TokenInMemory is Token when Token would answer with the token as
// stored, from what the store holds in memory: ok is false whenever
// Token would do more (read the disk, refresh, fail), and the caller then
// asks Token. It never blocks on I/O, so the bus's read loop may call it.
func (e *Engine) TokenInMemory(skillID, appID string) (app *App, tok *Token, ok bool) {
	mem, ok := e.store.(memoryStore)
	if !ok || checkIDs(skillID, appID) != nil {
		return nil, nil, false
	}
	id := MungedID(skillID, appID)
	app, ok = mem.CachedApp(id)
	if !ok || app.SkillID != skillID || app.AppID != appID || app.NeedsReauth {
		return nil, nil, false
	}
	if tok, ok = mem.CachedToken(id); !ok || tok == nil {
		return nil, nil, false
	}
	tok = e.inFrame(id, tok)
	if !e.handOut(tok, e.Now()) {
		return nil, nil, false
	}
	return app, tok, true
}

// currentToken is the app's newest token: one that was refreshed but could
// not be saved yet, else the stored one.
func (e *Engine) currentToken(id string) (*Token, error) {
	if tok := e.unsaved.get(id); tok != nil {
		return tok, nil
	}
	return e.storedToken(id)
}

// storedToken is the app's token in the store, its times read by the clock
// as it is now (inFrame).
func (e *Engine) storedToken(id string) (*Token, error) {
	tok, err := e.rawToken(id)
	if err != nil {
		return nil, err
	}
	return e.inFrame(id, tok), nil
}

// rawToken is the app's token as stored.
func (e *Engine) rawToken(id string) (*Token, error) {
	tok, err := e.store.Token(id)
	if IsNotFound(err) {
		return nil, errorf(CodeNotAuthorized, "the user has not logged in to %q yet", id)
	}
	if err != nil {
		return nil, internalErr("read the token", err)
	}
	return tok, nil
}

// unsavedTokens holds refreshed tokens whose save failed (a full disk, an
// I/O error), per app. The provider may have rotated the refresh token:
// the old one is dead, so the new one is kept here, used by the next
// refresh and saved by it, rather than lost.
type unsavedTokens struct {
	mu   sync.Mutex
	toks map[string]*Token
}

func (u *unsavedTokens) get(id string) *Token {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.toks[id]
}

func (u *unsavedTokens) set(id string, tok *Token) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if tok == nil {
		delete(u.toks, id)
		return
	}
	if u.toks == nil {
		u.toks = make(map[string]*Token)
	}
	u.toks[id] = tok
}

// refreshShared runs one refresh per app at a time; concurrent callers wait
// for it and share its result. The refresh itself outlives a caller that
// gives up, so a rotated refresh token is always saved.
//
// seen is the token the caller found due; when another refresh replaced it
// in the meantime, that newer token is the answer and the provider is not
// asked again. A nil seen forces a refresh (oauth.refresh).
func (e *Engine) refreshShared(ctx context.Context, mungedID string, seen *Token) (*Token, error) {
	ch := e.refresh.DoChan(mungedID, func() (any, error) {
		if !e.flights.begin() {
			return nil, errorf(CodeProviderUnavailable, "ovos-oauth is stopping")
		}
		defer e.flights.end()
		return e.refreshNow(context.WithoutCancel(ctx), mungedID, seen)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Token), nil
	case <-ctx.Done():
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the refresh took too long", Err: ctx.Err()}
	}
}

func (e *Engine) refreshNow(ctx context.Context, id string, seen *Token) (*Token, error) {
	unlock := e.locks.Lock(id)
	defer unlock()
	app, err := e.app(id)
	if err != nil {
		return nil, err
	}
	old, answer, err := e.toRefresh(app, id, seen)
	if answer != nil || err != nil {
		return answer, err
	}

	ctx, cancel := e.providerCall(ctx)
	defer cancel()
	cfg := e.config(app, e.RedirectURI(app))
	refresh := func(rt Secret) (*Token, error) {
		return e.retrieve(ctx, func(ctx context.Context) (*oauth2.Token, error) {
			return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt.Reveal()}).Token()
		})
	}
	// A Python program may have refreshed with the mirrored refresh token,
	// rotating ours away (see MirrorChanged). Its newer token is used
	// first: presenting a rotated-away token makes some providers revoke the
	// whole grant. Unless a skill asked for a new token, one that is not due
	// is not refreshed again: one refresh per token.
	if m := e.mirroredToken(id); e.mirrorNewer(m, old) {
		e.logger.Info("using the newer token in the ovos_utils mirror", "app", id)
		if old = e.adopt(m, old); seen != nil && e.fresh(old) {
			return e.kept(app, old)
		}
	}
	tok, err := refresh(old.RefreshToken)
	// Another program presented the same refresh token a moment before:
	// the provider refused ours as rotated away, and gave it the next one.
	if err != nil && isInvalidGrant(err) {
		if m := e.rotatedInMirror(id, old.RefreshToken); m != nil {
			e.logger.Info("refresh token rotated by another program; using its token from the ovos_utils mirror", "app", id)
			if old = e.adopt(m, old); e.fresh(old) {
				return e.kept(app, old)
			}
			tok, err = refresh(old.RefreshToken)
		}
	}
	if err != nil {
		return nil, e.refreshFailed(app, err)
	}
	tok.continues(old)
	// Saved (fsync'd) before anyone sees the new access token: a rotated
	// refresh token is never lost.
	if err := e.keep(app, tok, "refresh", "", "rotated", tok.RefreshToken != old.RefreshToken); err != nil {
		return nil, err
	}
	return tok, nil
}

// toRefresh returns the stored token of app, called id, that a refresh
// replaces, or the answer without asking the provider: a token refreshed
// earlier but not saved, saved now, or one refreshed by someone else since
// the caller saw seen. The app's lock is held.
func (e *Engine) toRefresh(app *App, id string, seen *Token) (old, answer *Token, err error) {
	if app.NeedsReauth {
		return nil, nil, errorf(CodeReauthRequired, "the provider no longer accepts this login; log in again")
	}
	// A token refreshed earlier but not saved: save it now, and ask the
	// provider for nothing until it is.
	if tok := e.unsaved.get(id); tok != nil {
		if err := e.keep(app, tok, "refresh", "", "saved_late", true); err != nil {
			return nil, nil, err
		}
		return nil, tok, nil
	}
	old, err = e.storedToken(id)
	if err != nil {
		return nil, nil, err
	}
	if seen != nil && old.Obtained.After(seen.Obtained) {
		if due, ok := e.refreshDue(old); !ok || e.Now().Before(due) {
			return nil, old, nil // refreshed meanwhile by someone else
		}
	}
	if old.RefreshToken == "" {
		return nil, nil, errorf(CodeReauthRequired, "the provider gave no refresh token; log in again")
	}
	return old, nil, nil
}

// continues completes tok, the provider's answer to a refresh of old, with
// what it carries over from old.
func (tok *Token) continues(old *Token) {
	// RFC 6749 §6: no refresh_token in the answer means the old one stays.
	if tok.RefreshToken == "" {
		tok.RefreshToken = old.RefreshToken
	}
	// A refresh token kept keeps the lifetime it was issued with.
	if tok.RefreshToken == old.RefreshToken && tok.RefreshExpiry.IsZero() {
		tok.RefreshExpiry = old.RefreshExpiry
	}
	if tok.Scope == "" {
		tok.Scope = old.Scope
	}
	// A refresh continues the login: it ends when the login would have.
	tok.LoginAt, tok.ReauthWarned = loginAt(old), old.ReauthWarned
}

// isRefusal reports whether a token endpoint error is a definitive refusal.
func isRefusal(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && (re.Response == nil || re.Response.StatusCode < 500) && definitiveRefusal(re)
}

// refreshFailed tells a definitive refusal (the refresh token is dead: mark
// the app, tell the user once) from a passing fault (keep everything).
func (e *Engine) refreshFailed(app *App, err error) error {
	var re *oauth2.RetrieveError
	if !isRefusal(err) || !errors.As(err, &re) {
		e.logger.Warn("token refresh failed, will retry", "app", app.MungedID(), "err", safeErr(err))
		e.observer().RefreshFailed(CodeProviderUnavailable)
		return &Error{Code: CodeProviderUnavailable, Description: "the provider could not refresh the token right now", Err: safeErr(err)}
	}
	reason := re.ErrorCode
	if reason == "" {
		reason = "refused"
	}
	app.NeedsReauth, app.ReauthReason, app.Updated = true, reason, e.Now()
	if perr := e.store.PutApp(app, false); perr != nil {
		e.observer().RefreshFailed(CodeInternal)
		return internalErr("save the app", perr)
	}
	e.observer().RefreshFailed(CodeReauthRequired)
	e.sched.remove(job{jobRefresh, app.MungedID()})
	e.logger.Warn("refresh token refused, login needed", "app", app.MungedID(), "reason", reason)
	e.events.ReauthRequired(app, reason)
	return &Error{Code: CodeReauthRequired, Description: "the provider no longer accepts this login; log in again", Err: redactedRetrieveError(re)}
}

// definitiveRefusal: errors after which retrying the same refresh token
// cannot succeed (RFC 6749 §5.2).
func definitiveRefusal(re *oauth2.RetrieveError) bool {
	switch re.ErrorCode {
	case "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return true
	}
	return false
}

// safeErr keeps a RetrieveError's status and code but not its body.
func safeErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return redactedRetrieveError(re)
	}
	return err
}
