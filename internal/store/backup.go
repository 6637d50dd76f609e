package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	bolt "go.etcd.io/bbolt"
)

// A backup is made from a copy of the file, never from the file itself:
// the copy is opened with the key as a store of its own, read, and
// deleted. A running daemon hands the copy out (DB.Copy); a stopped one's
// file is copied under its shared lock (CopyFile). Either way nothing is
// written to the store being backed up.

// keyUnmirrored, in meta, lists as JSON the munged ids whose app or token
// Restore wrote and the ovos_utils mirror has not yet: the daemon, which
// alone knows where its mirror is, writes them at its next start
// (TakeUnmirrored).
const keyUnmirrored = "unmirrored"

// Copy calls fn with a consistent copy of the store's file, from one read
// transaction: its size in bytes and what writes exactly that many bytes.
// The copy holds the values sealed, as the file does. While fn runs, a
// write that must grow the file waits for it (bbolt remaps the file only
// without readers): fn must bound its time. Safe for concurrent use.
func (db *DB) Copy(fn func(size int64, file io.WriterTo) error) error {
	if db.bolt == nil {
		return errNotOpen
	}
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(tx.Size(), tx) })
}

// CopyFile writes a consistent copy of the store file at path to w, read
// under the file's shared lock, which it waits for up to timeout; it fails
// with an error wrapping ErrLocked while another process (a running
// daemon) holds the file. It checks the file as Open does and never
// writes to it; it needs no key.
func CopyFile(path string, w io.Writer, timeout time.Duration) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("copy %s: %w", path, err)
	}
	if empty(path) {
		return 0, fmt.Errorf("copy %s: the file is empty: the store never held anything", path)
	}
	bdb, err := openRepair(path, true, timeout)
	if err != nil {
		return 0, err
	}
	defer bdb.Close()
	var n int64
	err = bdb.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", path, err)
	}
	return n, nil
}

// RestoreApp is one app of a backup, to restore: its registration, its
// token (nil for none) and its pending device logins.
type RestoreApp struct {
	App          *oauth.App
	Token        *oauth.Token
	DeviceLogins []*oauth.Flow
}

// RestoreAction is what Restore did with an app.
type RestoreAction string

// What Restore does with each app of a backup.
const (
	// Restored: something of the backup's was written: the app, its
	// token or a pending device login.
	Restored RestoreAction = "restored"
	// Kept: the store's app and token are kept, as newer or as new.
	Kept RestoreAction = "kept"
	// Skipped: the app cannot be restored here; Reason says why.
	Skipped RestoreAction = "skipped"
)

// RestoreReason says why Restore kept or skipped an app, or left its
// token as it was: a code that the CLI words in the user's language.
type RestoreReason string

// Why Restore did not write all of an app.
const (
	// ReasonDamaged: the app's record in the store was damaged and is set
	// aside now: a restore again adds the app.
	ReasonDamaged RestoreReason = "damaged"
	// ReasonIDTaken: the app's munged id is another skill's app in the
	// store, OtherSkillID's OtherAppID.
	ReasonIDTaken RestoreReason = "id_taken"
	// ReasonOtherClient: the store's app has another client or token
	// endpoint, to which the backup's token does not belong; force takes
	// the backup's registration and token.
	ReasonOtherClient RestoreReason = "other_client"
	// ReasonNoToken: the backup has no token for the app.
	ReasonNoToken RestoreReason = "no_token"
	// ReasonLoginEnded: the backup's app needed a new login when the
	// backup was made, so its token is not taken.
	ReasonLoginEnded RestoreReason = "login_ended"
	// ReasonNewer: the store's token is as new as the backup's or newer;
	// force takes the backup's.
	ReasonNewer RestoreReason = "newer"
)

// RestoreResult is what Restore did with one app: never a secret.
type RestoreResult struct {
	MungedID string
	Action   RestoreAction
	// AppAdded: the store had no such app. AppReplaced: the backup's
	// registration took the place of the store's (its client credentials,
	// which the store's lacked, or --force).
	AppAdded, AppReplaced bool
	// TokenRestored: the backup's token is the app's now.
	TokenRestored bool
	// Logins is how many pending device logins were restored.
	Logins int
	// Obtained is when the backup's token was issued, StoreObtained when
	// the store's was; zero for none.
	Obtained, StoreObtained time.Time
	// Reason says, for Kept and Skipped, why.
	Reason RestoreReason
	// OtherSkillID and OtherAppID name the app whose id this is in the
	// store, for ReasonIDTaken.
	OtherSkillID, OtherAppID string
}

// Restore writes the apps of a backup into the store, in one transaction:
// all or, when it fails, nothing. An app the store lacks is added with its
// token and pending device logins. For an app it has:
//
//   - the backup's token replaces the store's only when it is newer (by
//     Token.Obtained, when the provider issued it) or the store has none,
//     never a newer one; a backup whose app needed a new login brings no
//     token;
//   - the backup's registration replaces the store's only when the store's
//     has no client credentials yet (a skill registered it before the user
//     typed them on this device) and the backup's has; an app registered
//     here with another client or token endpoint is skipped, as its token
//     belongs to the other;
//   - a pending device login is added unless it has expired by now or the
//     store has it.
//
// With force, the backup's registration and token replace the store's,
// newer or not, whatever client they name. An app whose munged id belongs
// here to another skill's app, or whose record here is damaged, is always
// skipped. The apps and tokens written are marked for the ovos_utils mirror
// (TakeUnmirrored). Safe for concurrent use.
func (db *DB) Restore(apps []RestoreApp, force bool, now time.Time) ([]RestoreResult, error) {
	var results []RestoreResult
	var written []string
	err := db.update(func(b *buckets) error {
		results, written = nil, nil
		for _, a := range apps {
			if a.App == nil {
				return errors.New("restore: an app without its registration")
			}
			r, err := b.restore(a, force, now)
			if err != nil {
				return fmt.Errorf("restore %s: %w", a.App.MungedID(), err)
			}
			if r.AppAdded || r.AppReplaced || r.TokenRestored {
				written = append(written, r.MungedID)
			}
			results = append(results, r)
		}
		return b.addUnmirrored(written)
	})
	for _, a := range apps {
		if a.App != nil {
			db.cache.forget(a.App.MungedID(), true, true)
		}
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

// restore restores one app, as Restore says.
func (b *buckets) restore(a RestoreApp, force bool, now time.Time) (RestoreResult, error) {
	id := a.App.MungedID()
	r := RestoreResult{MungedID: id, Action: Kept}
	if a.Token != nil {
		r.Obtained = a.Token.Obtained
	}
	cur, err := get[oauth.App](b.apps, id)
	switch {
	case errors.Is(err, errDamaged):
		r.Action, r.Reason = Skipped, ReasonDamaged
		return r, nil
	case errors.Is(err, oauth.ErrNotFound):
		if err := b.putJSON(b.apps, id, a.App); err != nil {
			return r, err
		}
		r.AppAdded = true
		if a.Token != nil {
			if err := b.putJSON(b.tokens, id, a.Token); err != nil {
				return r, err
			}
			r.TokenRestored = true
		}
	case err != nil:
		return r, err
	case cur.SkillID != a.App.SkillID || cur.AppID != a.App.AppID:
		r.Action, r.Reason, r.OtherSkillID, r.OtherAppID = Skipped, ReasonIDTaken, cur.SkillID, cur.AppID
		return r, nil
	default:
		if err := b.restoreOver(cur, a, force, &r); err != nil || r.Action == Skipped {
			return r, err
		}
	}
	n, err := b.restoreLogins(a, now)
	if err != nil {
		return r, err
	}
	r.Logins = n
	if r.AppAdded || r.AppReplaced || r.TokenRestored || r.Logins > 0 {
		r.Action = Restored
	}
	return r, nil
}

// restoreOver restores the backup's a over the store's app cur, of the
// same skill and app id, as Restore says.
func (b *buckets) restoreOver(cur *oauth.App, a RestoreApp, force bool, r *RestoreResult) error {
	id := r.MungedID
	curTok, err := get[oauth.Token](b.tokens, id)
	switch {
	case errors.Is(err, oauth.ErrNotFound): // damaged ones too: replaced below, or set aside after
		curTok = nil
	case err != nil:
		return err
	default:
		r.StoreObtained = curTok.Obtained
	}
	sameClient := cur.ClientID == a.App.ClientID && cur.TokenEndpoint == a.App.TokenEndpoint
	takeApp := force || (cur.NeedsCreds() && !a.App.NeedsCreds())
	if !sameClient && !takeApp {
		r.Action, r.Reason = Skipped, ReasonOtherClient
		return nil
	}
	app, writeApp := cur, false
	if takeApp {
		app, writeApp, r.AppReplaced = a.App, true, true
	}
	switch {
	case a.Token == nil:
		r.Reason = ReasonNoToken
	case force || !sameClient:
		r.TokenRestored = true // the store's token, if any, was another client's
	case a.App.NeedsReauth:
		r.Reason = ReasonLoginEnded
	case curTok == nil:
		r.TokenRestored = true
	case a.Token.Obtained.After(curTok.Obtained):
		r.TokenRestored = true
	default:
		r.Reason = ReasonNewer
	}
	if r.TokenRestored && !r.AppReplaced && app.NeedsReauth {
		// The mark was about the token that is replaced now.
		fixed := *app
		fixed.NeedsReauth, fixed.ReauthReason = false, ""
		app, writeApp = &fixed, true
	}
	if writeApp {
		if err := b.putJSON(b.apps, id, app); err != nil {
			return err
		}
	}
	if r.TokenRestored {
		return b.putJSON(b.tokens, id, a.Token)
	}
	if r.AppReplaced && !sameClient {
		// The store's token was issued to the client replaced.
		return b.tokens.delete([]byte(id))
	}
	return nil
}

// restoreLogins adds a's pending device logins that have not expired by
// now and that the store lacks, and returns how many it added.
func (b *buckets) restoreLogins(a RestoreApp, now time.Time) (int, error) {
	n := 0
	for _, f := range a.DeviceLogins {
		if f.Kind != oauth.FlowDevice || f.MungedID != a.App.MungedID() || !f.Expires.After(now) || !f.Spent.IsZero() || b.flows.has([]byte(f.ID)) {
			continue
		}
		if err := b.putJSON(b.flows, f.ID, f); err != nil {
			return n, err
		}
		if err := b.appFlows.Put(appFlowKey(f.MungedID, f.ID), indexValue(f.Created, nil)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// putJSON seals v's JSON at key in s.
func (b *buckets) putJSON(s *sealedBucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	defer clear(data)
	return s.put([]byte(key), data)
}

// addUnmirrored adds ids to the list of those the mirror lacks.
func (b *buckets) addUnmirrored(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	meta := b.tx.Bucket([]byte(bucketMeta))
	var list []string
	if v := meta.Get([]byte(keyUnmirrored)); v != nil {
		_ = json.Unmarshal(v, &list) // a list that does not decode is replaced
	}
	for _, id := range ids {
		if !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	data, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return meta.Put([]byte(keyUnmirrored), data)
}

// TakeUnmirrored returns the munged ids whose app or token Restore wrote
// since the last call, and forgets them: the caller writes them to the
// ovos_utils mirror. It writes nothing when there are none. Safe for
// concurrent use.
func (db *DB) TakeUnmirrored() ([]string, error) {
	var found bool
	err := db.view(func(b *buckets) error {
		found = b.tx.Bucket([]byte(bucketMeta)).Get([]byte(keyUnmirrored)) != nil
		return nil
	})
	if err != nil || !found {
		return nil, err
	}
	var ids []string
	err = db.update(func(b *buckets) error {
		ids = nil
		meta := b.tx.Bucket([]byte(bucketMeta))
		if v := meta.Get([]byte(keyUnmirrored)); v != nil {
			_ = json.Unmarshal(v, &ids)
		}
		return meta.Delete([]byte(keyUnmirrored))
	})
	if err != nil {
		return nil, fmt.Errorf("list the apps restored: %w", err)
	}
	return ids, nil
}
