package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// App returns the app with the munged id, or an error wrapping
// oauth.ErrNotFound. The result is the caller's to modify. Safe for
// concurrent use.
func (db *DB) App(mungedID string) (*oauth.App, error) {
	if app, ok := db.cache.app(mungedID); ok {
		return app, nil
	}
	gen := db.cache.generation()
	var app *oauth.App
	err := db.view(func(b *buckets) error {
		var err error
		app, err = get[oauth.App](b.apps, mungedID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get app %s: %w", mungedID, err)
	}
	db.cache.putApp(gen, mungedID, app)
	return app, nil
}

// Apps returns every app, ordered by munged id. Safe for concurrent use.
func (db *DB) Apps() ([]*oauth.App, error) {
	var apps []*oauth.App
	err := db.view(func(b *buckets) error {
		return b.apps.forEach(func(k, v []byte) error {
			if app, err := decode[oauth.App](b.apps, k, v); err == nil {
				apps = append(apps, app)
			} // else damaged: skipped, and set aside after
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return apps, nil
}

// AppsOfSkill returns the apps of the skill, ordered by munged id. It reads
// only the apps whose munged id starts with the skill id and "_", not all.
// Safe for concurrent use.
func (db *DB) AppsOfSkill(skillID string) ([]*oauth.App, error) {
	var apps []*oauth.App
	err := db.view(func(b *buckets) error {
		prefix := []byte(skillID + "_")
		c := b.apps.b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			app, err := decode[oauth.App](b.apps, k, v)
			if err != nil {
				continue // damaged: set aside after
			}
			if app.SkillID == skillID { // "a_b"+"c" shares the prefix of skill "a"
				apps = append(apps, app)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list apps of %s: %w", skillID, err)
	}
	return apps, nil
}

// HasApps reports whether the store holds an app, without reading any.
// Safe for concurrent use.
func (db *DB) HasApps() (bool, error) {
	var has bool
	err := db.view(func(b *buckets) error {
		k, _ := b.apps.b.Cursor().First()
		has = k != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("list apps: %w", err)
	}
	return has, nil
}

// PutApp creates or replaces the app under its munged id; with dropToken set
// it deletes the app's token in the same transaction. The app's pending flows
// are kept.
//
// Munged ids are ambiguous ("a_b"+"c" and "a"+"b_c" both give "a_b_c"), so
// PutApp refuses to replace an app stored under the same munged id for a
// different skill id and app id: one skill must not take over another's
// credentials and token. Safe for concurrent use.
func (db *DB) PutApp(app *oauth.App, dropToken bool) error {
	id := app.MungedID()
	data, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("put app %s: %w", id, err)
	}
	err = db.update(func(b *buckets) error {
		if b.apps.has([]byte(id)) {
			// A damaged app tells no owner: it is set aside with its
			// token, which no other skill can then take over.
			prev, err := get[oauth.App](b.apps, id)
			if err != nil && !errors.Is(err, errDamaged) {
				return err
			}
			if prev != nil && (prev.SkillID != app.SkillID || prev.AppID != app.AppID) {
				return fmt.Errorf("munged id already taken by skill %q app %q", prev.SkillID, prev.AppID)
			}
		}
		if err := b.apps.put([]byte(id), data); err != nil {
			return err
		}
		if dropToken {
			return b.tokens.delete([]byte(id))
		}
		return nil
	})
	db.cache.forget(id, true, dropToken)
	if err != nil {
		return fmt.Errorf("put app %s: %w", id, err)
	}
	return nil
}

// DeleteApp deletes the app with its token and all its pending flows in one
// transaction, or returns an error wrapping oauth.ErrNotFound when there is
// no such app. Safe for concurrent use.
func (db *DB) DeleteApp(mungedID string) error {
	err := db.update(func(b *buckets) error {
		key := []byte(mungedID)
		if !b.apps.has(key) {
			return oauth.ErrNotFound
		}
		if err := b.apps.delete(key); err != nil {
			return err
		}
		if err := b.tokens.delete(key); err != nil {
			return err
		}
		flows, err := b.flowsOf(mungedID)
		if err != nil {
			return err
		}
		for _, f := range flows {
			if err := b.deleteFlow(f); err != nil {
				return err
			}
		}
		return nil
	})
	db.cache.forget(mungedID, true, true)
	if err != nil {
		return fmt.Errorf("delete app %s: %w", mungedID, err)
	}
	return nil
}
