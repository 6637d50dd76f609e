package oauth

import (
	"errors"
	"time"
)

// ErrNotFound is returned by a Store when the app, token or flow asked for
// does not exist.
var ErrNotFound = errors.New("not found")

// Store keeps apps, tokens and pending flows durably. Every method that
// returns without error has committed its change to disk. Implementations are
// safe for concurrent use.
type Store interface {
	// App returns the app with the munged id, or ErrNotFound.
	App(mungedID string) (*App, error)
	// Apps returns every app, ordered by munged id.
	Apps() ([]*App, error)
	// AppsOfSkill returns the apps of the skill, ordered by munged id, at
	// the cost of those apps (not of all).
	AppsOfSkill(skillID string) ([]*App, error)
	// PutApp creates or replaces an app. With dropToken set, the app's token
	// is deleted in the same transaction.
	PutApp(app *App, dropToken bool) error
	// DeleteApp deletes an app with its token and pending flows. Deleting an
	// app that does not exist returns ErrNotFound.
	DeleteApp(mungedID string) error

	// Token returns the app's token, or ErrNotFound.
	Token(mungedID string) (*Token, error)
	// Tokens returns every stored token keyed by munged id.
	Tokens() (map[string]*Token, error)
	// PutToken stores the app's token; ErrNotFound when the app is gone.
	PutToken(mungedID string, tok *Token) error
	// PutLoginToken stores the token a login was issued and deletes that
	// login's flow in the same transaction, so that a login is either
	// still pending (or spent) or has its token; a flow already gone is not
	// an error. ErrNotFound when the app is gone.
	PutLoginToken(mungedID string, tok *Token, flowID string) error
	// DeleteToken deletes the app's token; deleting none is not an error.
	DeleteToken(mungedID string) error

	// PutFlow stores a pending flow, indexed by its state when it has one
	// (a device login has none). It keeps at most keepPerApp pending
	// flows for the flow's app, deleting the oldest beyond that. It returns
	// ErrNotFound when the app is gone: a flow never outlives its app.
	PutFlow(flow *Flow, keepPerApp int) error
	// Flow returns the flow with the id, or ErrNotFound.
	Flow(id string) (*Flow, error)
	// Flows returns every pending flow, expired or not.
	Flows() ([]*Flow, error)
	// FlowsOf returns the pending flows of the app with the munged id,
	// ordered by id, at the cost of those flows (not of all).
	FlowsOf(mungedID string) ([]*Flow, error)
	// FlowByState returns the flow with the state, spent or not, without
	// consuming it, or ErrNotFound.
	FlowByState(state string) (*Flow, error)
	// DeleteFlow deletes the flow with the id; ErrNotFound when there is
	// none, so that of two callers exactly one ends a flow.
	DeleteFlow(id string) error
	// SpendFlow finds the flow with the state and marks it spent by run at
	// now, durably, and returns it as it was: a state is good for one use,
	// across restarts too. ErrNotFound when there is none or it is spent
	// already. An expired flow is returned too; the caller checks Expires.
	// The stored flow keeps no verifier: its code was sent.
	SpendFlow(state, run string, now time.Time) (*Flow, error)
	// DeleteExpiredFlows deletes every flow that expired before now, except
	// device logins (their poll ends them) and spent ones not yet reported
	// as interrupted (their exchange ends them), and returns how many it
	// deleted.
	DeleteExpiredFlows(now time.Time) (int, error)

	// Damaged lists the records that did not open or decode and were set
	// aside: every method above skips such a record (a read finds it
	// missing) rather than fail for every app.
	Damaged() ([]DamagedRecord, error)
}

// The kinds of record a DamagedRecord names.
const (
	RecordApp   = "app"   // the app's registration: its skill registers it again
	RecordToken = "token" // its token: the app needs a new login
	RecordLogin = "login" // a pending login: it ended
)

// ReauthDamaged is the ReauthReason of an app whose token was damaged.
const ReauthDamaged = "damaged"

// DamagedRecord is a stored record that did not open or decode (a bad
// card, a file edited by hand) and was set aside: never its content.
type DamagedRecord struct {
	// MungedID is the app the record belonged to; "" when not known.
	MungedID string
	// Record is one of the Record constants.
	Record string
	// Reason says why it was set aside, in words.
	Reason string
	// At is when it was set aside.
	At time.Time
}

// Mirror copies apps and tokens to where other programs read them (the JSON
// files of ovos_utils.oauth). It is best effort: the Store is the truth, a
// failed mirror write is logged and retried with the next change.
// Implementations are safe for concurrent use.
type Mirror interface {
	// PutApp writes the app's record; redirectURI is its callback endpoint.
	PutApp(app *App, redirectURI string) error
	// PutToken writes the app's token, refresh token included.
	PutToken(app *App, tok *Token) error
	// TokenWritten returns a channel that is closed once the mirror holds
	// the token last put for the app, or what replaced it since (a newer
	// token, its removal); one that is closed already when nothing of the
	// app's is waiting to be written. A mirror that writes behind its
	// callers closes it when the file is in place.
	TokenWritten(mungedID string) <-chan struct{}
	// DeleteToken removes the token of the app with the munged id.
	DeleteToken(mungedID string) error
	// DeleteApp removes the app's record and its token.
	DeleteApp(mungedID string) error
	// Token returns the app's token as the mirror holds it, nil when none:
	// ovos_utils, or a Python program with a refresher of its own, can
	// refresh it and rotate the refresh token. Its Expiry is the expiry
	// written there, zero when unknown.
	Token(mungedID string) (*Token, error)
}
