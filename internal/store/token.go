package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Token returns the token of the app with the munged id, or an error
// wrapping oauth.ErrNotFound. The result is the caller's to modify. Safe for
// concurrent use.
func (db *DB) Token(mungedID string) (*oauth.Token, error) {
	if tok, ok := db.cache.token(mungedID); ok {
		if tok == nil {
			return nil, fmt.Errorf("get token %s: %w", mungedID, oauth.ErrNotFound)
		}
		return tok, nil
	}
	gen := db.cache.generation()
	var tok *oauth.Token
	appHasNone := false
	err := db.view(func(b *buckets) error {
		var err error
		tok, err = get[oauth.Token](b.tokens, mungedID)
		if errors.Is(err, oauth.ErrNotFound) {
			// Remembered only for an app that exists: ids asked for
			// come from the bus.
			appHasNone = b.apps.has([]byte(mungedID))
		}
		return err
	})
	if appHasNone {
		db.cache.putToken(gen, mungedID, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("get token %s: %w", mungedID, err)
	}
	db.cache.putToken(gen, mungedID, tok)
	return tok, nil
}

// Tokens returns every stored token keyed by munged id. Safe for concurrent
// use.
func (db *DB) Tokens() (map[string]*oauth.Token, error) {
	toks := make(map[string]*oauth.Token)
	err := db.view(func(b *buckets) error {
		return b.tokens.forEach(func(k, v []byte) error {
			if tok, err := decode[oauth.Token](b.tokens, k, v); err == nil {
				toks[string(k)] = tok
			} // else damaged: skipped, and set aside after
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return toks, nil
}

// PutToken creates or replaces the token of the app with the munged id. It
// returns an error wrapping oauth.ErrNotFound when the app does not exist, so
// a token written while its app is being deleted never outlives it. Safe for
// concurrent use.
func (db *DB) PutToken(mungedID string, tok *oauth.Token) error {
	data, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("put token %s: %w", mungedID, err)
	}
	err = db.update(func(b *buckets) error {
		key := []byte(mungedID)
		if !b.apps.has(key) {
			return oauth.ErrNotFound
		}
		return b.tokens.put(key, data)
	})
	db.cache.forget(mungedID, false, true)
	if err != nil {
		return fmt.Errorf("put token %s: %w", mungedID, err)
	}
	return nil
}

// PutLoginToken stores the token a login was issued, as PutToken does, and
// deletes the login's flow with its state in the same transaction: a kill
// at any moment leaves the login either spent and unfinished, which the
// next run reports, or finished, never both nor neither. A flow already
// gone (replaced by a newer login, or swept) is not an error, nor is one
// that does not open: the token matters more. Safe for concurrent use.
func (db *DB) PutLoginToken(mungedID string, tok *oauth.Token, flowID string) error {
	data, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("put token %s: %w", mungedID, err)
	}
	err = db.update(func(b *buckets) error {
		key := []byte(mungedID)
		if !b.apps.has(key) {
			return oauth.ErrNotFound
		}
		if err := b.tokens.put(key, data); err != nil {
			return err
		}
		f, err := get[oauth.Flow](b.flows, flowID)
		if err != nil || f.MungedID != mungedID {
			return nil
		}
		return b.deleteFlow(f)
	})
	db.cache.forget(mungedID, false, true)
	if err != nil {
		return fmt.Errorf("put token %s: %w", mungedID, err)
	}
	return nil
}

// DeleteToken deletes the token of the app with the munged id; deleting a
// token that does not exist is not an error. Safe for concurrent use.
func (db *DB) DeleteToken(mungedID string) error {
	err := db.update(func(b *buckets) error {
		return b.tokens.delete([]byte(mungedID))
	})
	db.cache.forget(mungedID, false, true)
	if err != nil {
		return fmt.Errorf("delete token %s: %w", mungedID, err)
	}
	return nil
}
