// Package backup owns the backup file of ovos-oauth: every app, token,
// user-entered credential and pending device login of a store, as a
// versioned JSON document encrypted with a passphrase.
//
// The document holds the records in the clear, not as the store seals them:
// a backup is restored onto a new device, whose store has a key of its own.
// The passphrase alone protects them, so the file is encrypted with age
// (filippo.io/age, its scrypt recipient): a reviewed file format whose
// payload is authenticated chunk by chunk and whose end is authenticated
// too, so a wrong passphrase, a changed byte and a file cut short are each
// an error before a single record is trusted.
//
// Pending code, relay and loopback logins are left out: their links carry
// this device's callback address and expire within minutes, so none could
// be finished on the device the backup is restored to. A pending device
// login has no address; it is kept, and restored while it has not expired.
package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Format is the Format of every backup document.
const Format = "ovos-oauth backup"

// Version is the layout of the document this package writes. Bump it when a
// field changes meaning; Read refuses a newer one.
const Version = 1

// MaxSize bounds what Read decrypts: the backup of 10,000 apps is a few MB.
const MaxSize = 256 << 20

// maxWorkFactor bounds the scrypt work a file may ask of Read: 2^22, about
// 15 s on a Raspberry Pi 4, four times what age writes by default (2^18).
const maxWorkFactor = 22

// ErrPassphrase is wrapped by the error of Read for a passphrase that does
// not open the file.
var ErrPassphrase = errors.New("the passphrase does not open this backup")

// ErrDamaged is wrapped by the error of Read for a file that is not a whole
// backup: cut short, changed, or not an ovos-oauth backup at all.
var ErrDamaged = errors.New("the file is not a whole ovos-oauth backup")

// Document is the content of a backup file.
type Document struct {
	// Format is always the constant Format: a JSON file of another
	// program that happens to be encrypted with the same passphrase is not
	// taken for a backup.
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Apps    []App     `json:"apps"`
}

// App is one app of a backup with what belongs to it.
type App struct {
	// App is its registration, with the client credentials, whether the
	// skill sent them or the user typed them (App.CredsFromUser).
	App *oauth.App `json:"app"`
	// Token is its token, nil when it has none.
	Token *oauth.Token `json:"token,omitempty"`
	// DeviceLogins are its pending device logins (oauth.FlowDevice).
	DeviceLogins []*oauth.Flow `json:"device_logins,omitempty"`
}

// New returns the document of apps, stamped created.
func New(apps []App, created time.Time) *Document {
	return &Document{Format: Format, Version: Version, Created: created.UTC(), Apps: apps}
}

// Write encrypts doc with the passphrase and writes it to w. workFactor is
// the scrypt work factor's log2, 0 for age's default (2^18, about a second
// on a small board); tests set it low. An empty passphrase is an error.
func Write(w io.Writer, doc *Document, passphrase string, workFactor int) error {
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode backup: %w", err)
	}
	defer clear(data)
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return fmt.Errorf("encrypt backup: %w", err)
	}
	if workFactor > 0 {
		r.SetWorkFactor(workFactor)
	}
	enc, err := age.Encrypt(w, r)
	if err != nil {
		return fmt.Errorf("encrypt backup: %w", err)
	}
	if _, err := enc.Write(data); err != nil {
		return fmt.Errorf("encrypt backup: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encrypt backup: %w", err)
	}
	return nil
}

// Read decrypts a backup written by Write with the passphrase, reading r to
// its end, and returns its document. It fails with an error wrapping
// ErrPassphrase for a wrong passphrase, and ErrDamaged for a file cut
// short, changed or of another kind. It never returns part of a document.
func Read(r io.Reader, passphrase string) (*Document, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	id.SetMaxWorkFactor(maxWorkFactor)
	dec, err := age.Decrypt(r, id)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
		return nil, fmt.Errorf("read backup: %w", ErrPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("read backup: %w: %w", ErrDamaged, err)
	}
	var buf bytes.Buffer
	defer func() { clear(buf.Bytes()) }()
	// age authenticates each chunk as it is read, and knows the last one:
	// a file cut short fails here, before any of it is decoded.
	n, err := io.Copy(&buf, io.LimitReader(dec, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read backup: %w: %w", ErrDamaged, err)
	}
	if n > MaxSize {
		return nil, fmt.Errorf("read backup: %w: larger than %d MB", ErrDamaged, MaxSize>>20)
	}
	return Parse(buf.Bytes())
}

// Parse decodes and checks a decrypted backup document. It fails with an
// error wrapping ErrDamaged for one that is not a backup or not a sound
// one, and says so for one of a newer version.
func Parse(data []byte) (*Document, error) {
	var doc Document
	if err := json.Unmarshal(data, &doc); err != nil {
		// json's error may quote the content: never in the message.
		return nil, fmt.Errorf("read backup: %w: it decrypts but does not decode", ErrDamaged)
	}
	if doc.Format != Format {
		return nil, fmt.Errorf("read backup: %w: it decrypts, but is not an ovos-oauth backup", ErrDamaged)
	}
	if doc.Version > Version || doc.Version < 1 {
		return nil, fmt.Errorf("read backup: it is of version %d, which this ovos-oauth (version %d) does not read: restore it with a newer release", doc.Version, Version)
	}
	seen := make(map[string]bool, len(doc.Apps))
	for i, a := range doc.Apps {
		if err := a.check(); err != nil {
			return nil, fmt.Errorf("read backup: %w: app %d: %w", ErrDamaged, i+1, err)
		}
		id := a.App.MungedID()
		if seen[id] {
			return nil, fmt.Errorf("read backup: %w: app %s is in it twice", ErrDamaged, id)
		}
		seen[id] = true
	}
	return &doc, nil
}

// check tells an app that the store could not take back.
func (a App) check() error {
	if a.App == nil || a.App.SkillID == "" || a.App.AppID == "" {
		return errors.New("no skill_id or app_id")
	}
	id := a.App.MungedID()
	if a.Token != nil && a.Token.AccessToken == "" && a.Token.RefreshToken == "" {
		return fmt.Errorf("%s: a token without an access or refresh token", id)
	}
	for _, f := range a.DeviceLogins {
		switch {
		case f == nil || f.ID == "":
			return fmt.Errorf("%s: a device login without an id", id)
		case f.Kind != oauth.FlowDevice:
			return fmt.Errorf("%s: a pending login of kind %q, where only device logins are kept", id, f.Kind)
		case f.MungedID != id:
			return fmt.Errorf("%s: a device login of another app", id)
		}
	}
	return nil
}
