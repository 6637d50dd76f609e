package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/seal"
	bolt "go.etcd.io/bbolt"
)

// A record that does not open or decode (a bad card flipped its bytes, a
// hand edit, a key file restored from another store's backup is caught by
// the key check at Open instead) must not stop every other app: reads skip
// it and it is moved, in one write transaction, to the quarantine bucket,
// bytes intact, never deleted but by ovos-oauth doctor --remove. The
// quarantine bucket holds one bucket per record set aside, named
//
//	origin bucket NUL origin key NUL time set aside (Unix ns, big-endian)
//
// and holding "value" (the record's bytes as they were), "app" (the munged
// id it belonged to, when known), "at" (RFC 3339) and "reason".
//
// What follows for the app:
//   - a damaged token: the app stays, marked NeedsReauth (ReauthDamaged);
//   - a damaged app: its token is set aside too (no record says any more
//     which endpoints it may be sent to) and its pending logins end; the
//     skill's next oauth.register makes the app anew;
//   - a damaged pending login ends, with its index entries.

// errDamaged is what a read of a damaged record returns: to the caller it
// is missing.
var errDamaged = fmt.Errorf("the record is damaged and was set aside: %w", oauth.ErrNotFound)

const (
	quarantineValue  = "value"
	quarantineApp    = "app"
	quarantineAt     = "at"
	quarantineReason = "reason"
)

// damagedRecord is a record a transaction found damaged.
type damagedRecord struct {
	bucket   string
	key, raw []byte // copies: bbolt's are good only in their transaction
	reason   DamageReason
	app      string // the munged id of a flow's app, when found before
	// orphaned is set for a whole token set aside with its damaged app:
	// the app that may replace it under its id is not marked.
	orphaned bool
	// seenBefore is set for a record found by an earlier transaction: it
	// is set aside only if it still holds the bytes that were found.
	seenBefore bool
}

// damageLog collects the damaged records one transaction found, each once.
type damageLog struct {
	records []damagedRecord
}

// note records a damaged value and returns errDamaged.
func (l *damageLog) note(bucket string, key, raw []byte, reason DamageReason) error {
	if l == nil {
		return errDamaged
	}
	for _, d := range l.records {
		if d.bucket == bucket && bytes.Equal(d.key, key) {
			return errDamaged
		}
	}
	l.records = append(l.records, damagedRecord{bucket: bucket, key: bytes.Clone(key), raw: bytes.Clone(raw), reason: reason})
	return errDamaged
}

// setApp records the app of a damaged flow whose index entries are gone.
func (l *damageLog) setApp(bucket string, key []byte, app string) {
	for i, d := range l.records {
		if d.bucket == bucket && bytes.Equal(d.key, key) {
			l.records[i].app = app
		}
	}
}

// DamageReason says why a record was set aside, as a code a program
// words in its user's language.
type DamageReason string

// The reasons a record is set aside.
const (
	// DamageNotAuthentic: its seal does not authenticate.
	DamageNotAuthentic DamageReason = "not_authentic"
	// DamageNotSealed: it is not a sealed value at all.
	DamageNotSealed DamageReason = "not_sealed"
	// DamageNotRecord: it opens but does not decode as a record.
	DamageNotRecord DamageReason = "not_a_record"
	// DamageAppDamaged: a token set aside with its damaged app.
	DamageAppDamaged DamageReason = "app_damaged"
)

// damageWords are the words each reason is stored in, in the quarantine
// record and oauth.DamagedRecord.Reason: English, as ovos-oauth has always
// stored them, so that files and bus replies keep their form.
var damageWords = map[DamageReason]string{
	DamageNotAuthentic: "it does not authenticate: its bytes were changed",
	DamageNotSealed:    "it is not a sealed value: its bytes were changed",
	DamageNotRecord:    "it opens but does not decode as a record",
	DamageAppDamaged:   "its app's record was damaged",
}

// String returns the reason in the English words that are stored.
func (r DamageReason) String() string { return damageWords[r] }

// DamageReasonOf returns the code of a stored reason, oauth.DamagedRecord's
// Reason; "" for words it does not know (written by another version).
func DamageReasonOf(words string) DamageReason {
	for r, w := range damageWords {
		if w == words {
			return r
		}
	}
	return ""
}

// reasonOf is why a value did not open.
func reasonOf(err error) DamageReason {
	if errors.Is(err, seal.ErrOpen) {
		return DamageNotAuthentic
	}
	return DamageNotSealed
}

// setAsideRecord is a record moved to quarantine, for the log.
type setAsideRecord struct {
	oauth.DamagedRecord
	ended int // pending logins of its app that ended with it
}

// setAside moves every record in log to quarantine, and what follows for
// their apps (see above), in b's write transaction. It returns what it
// moved and the munged ids whose cached app and token are stale.
func (b *buckets) setAside(now time.Time) (moved []setAsideRecord, touched []string, err error) {
	// The list grows while it is worked through: what follows for an app
	// can find more.
	for i := 0; i < len(b.damage.records); i++ {
		d := b.damage.records[i]
		origin := b.tx.Bucket([]byte(d.bucket))
		current := origin.Get(d.key)
		intact := bytes.Equal(current, d.raw)
		if d.seenBefore && !intact {
			continue // set aside by another transaction, or replaced
		}
		rec := setAsideRecord{DamagedRecord: oauth.DamagedRecord{Reason: d.reason.String(), At: now}}
		switch d.bucket {
		case bucketApps:
			rec.Record, rec.MungedID = oauth.RecordApp, string(d.key)
		case bucketTokens:
			rec.Record, rec.MungedID = oauth.RecordToken, string(d.key)
		case bucketFlows:
			rec.Record, rec.MungedID = oauth.RecordLogin, d.app
			if intact {
				// Else it was replaced under its id, and the new flow
				// owns the index entries.
				app, err := b.unindexFlow(string(d.key))
				if err != nil {
					return nil, nil, err
				}
				if app != "" {
					rec.MungedID = app
				}
			}
		}
		if err := b.quarantine(d, rec.DamagedRecord); err != nil {
			return nil, nil, err
		}
		if intact {
			if err := origin.Delete(d.key); err != nil {
				return nil, nil, err
			}
		}
		switch d.bucket {
		case bucketApps:
			if rec.ended, err = b.orphan(rec.MungedID); err != nil {
				return nil, nil, err
			}
		case bucketTokens:
			if intact && !d.orphaned {
				if err := b.markDamagedToken(rec.MungedID, now); err != nil {
					return nil, nil, err
				}
			}
		}
		if rec.MungedID != "" {
			touched = append(touched, rec.MungedID)
		}
		moved = append(moved, rec)
	}
	return moved, touched, nil
}

// quarantine writes d to the quarantine bucket.
func (b *buckets) quarantine(d damagedRecord, rec oauth.DamagedRecord) error {
	q := b.tx.Bucket([]byte(bucketQuarantine))
	name := make([]byte, 0, len(d.bucket)+len(d.key)+2+8)
	name = append(name, d.bucket...)
	name = append(name, 0)
	name = append(name, d.key...)
	name = append(name, 0)
	name = binary.BigEndian.AppendUint64(name, uint64(rec.At.UnixNano()))
	for q.Bucket(name) != nil { // the same record twice in one nanosecond
		binary.BigEndian.PutUint64(name[len(name)-8:], binary.BigEndian.Uint64(name[len(name)-8:])+1)
	}
	sub, err := q.CreateBucket(name)
	if err != nil {
		return fmt.Errorf("set aside %s %s: %w", d.bucket, d.key, err)
	}
	for k, v := range map[string][]byte{
		quarantineValue:  d.raw,
		quarantineApp:    []byte(rec.MungedID),
		quarantineAt:     []byte(rec.At.UTC().Format(time.RFC3339Nano)),
		quarantineReason: []byte(rec.Reason),
	} {
		if err := sub.Put([]byte(k), v); err != nil {
			return fmt.Errorf("set aside %s %s: %w", d.bucket, d.key, err)
		}
	}
	return nil
}

// orphan deals with what an app whose record was damaged leaves: its token
// is set aside too, since no record says any more which endpoints it may
// be sent to, and its pending logins end. It returns how many ended.
func (b *buckets) orphan(mungedID string) (int, error) {
	if raw := b.tokens.b.Get([]byte(mungedID)); raw != nil {
		n := len(b.damage.records)
		_ = b.damage.note(bucketTokens, []byte(mungedID), raw, DamageAppDamaged)
		if len(b.damage.records) > n { // else noted as damaged itself
			b.damage.records[n].orphaned = true
		}
	}
	prefix := appFlowPrefix(mungedID)
	var ids []string
	c := b.appFlows.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	ended := 0
	for _, id := range ids {
		f, err := get[oauth.Flow](b.flows, id)
		switch {
		case errors.Is(err, errDamaged):
			continue // noted: set aside in its turn
		case errors.Is(err, oauth.ErrNotFound):
			if err := b.appFlows.Delete(appFlowKey(mungedID, id)); err != nil {
				return 0, err
			}
			continue
		case err != nil:
			return 0, err
		}
		if err := b.deleteFlow(f); err != nil {
			return 0, err
		}
		ended++
	}
	return ended, nil
}

// markDamagedToken marks the app whose token was set aside: it needs a new
// login.
func (b *buckets) markDamagedToken(mungedID string, now time.Time) error {
	app, err := get[oauth.App](b.apps, mungedID)
	if errors.Is(err, oauth.ErrNotFound) {
		return nil // no app, or a damaged one: set aside in its turn
	}
	if err != nil {
		return err
	}
	app.NeedsReauth, app.ReauthReason, app.Updated = true, oauth.ReauthDamaged, now
	data, err := json.Marshal(app)
	if err != nil {
		return err
	}
	return b.apps.put([]byte(mungedID), data)
}

// unindexFlow deletes the index entries of the flow with the id, which
// cannot be read, and returns the munged id of its app ("" if no entry
// names one). It reads the whole index: only for a damaged flow.
func (b *buckets) unindexFlow(id string) (mungedID string, err error) {
	suffix := append([]byte{0}, id...)
	var key, state []byte
	err = b.appFlows.ForEach(func(k, v []byte) error {
		if key == nil && bytes.HasSuffix(k, suffix) {
			key = bytes.Clone(k)
			if e, ok := parseIndexValue(id, v); ok {
				state = bytes.Clone(e.state)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if key != nil {
		mungedID = string(key[:len(key)-len(suffix)])
		if err := b.appFlows.Delete(key); err != nil {
			return "", err
		}
	}
	if state != nil {
		if bytes.Equal(b.flowStates.Get(state), []byte(id)) {
			return mungedID, b.flowStates.Delete(state)
		}
		return mungedID, nil
	}
	// An index entry of an older release holds no state key.
	var states [][]byte
	err = b.flowStates.ForEach(func(k, v []byte) error {
		if bytes.Equal(v, []byte(id)) {
			states = append(states, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, k := range states {
		if err := b.flowStates.Delete(k); err != nil {
			return "", err
		}
	}
	return mungedID, nil
}

// setAsideFound moves the damaged records a read transaction found, in a
// write of their own, and logs them. A record another transaction moved
// or replaced since is left alone. A failure is logged: the next read
// finds the record again.
func (db *DB) setAsideFound(found []damagedRecord) {
	for i := range found {
		found[i].seenBefore = true
	}
	var moved []setAsideRecord
	var touched []string
	err := db.writes.do(db.bolt, func(btx *bolt.Tx) error {
		b := db.bucketsOf(btx)
		b.damage.records = append(b.damage.records, found...)
		var err error
		moved, touched, err = b.setAside(db.now())
		return err
	})
	db.forgetTouched(touched)
	if err != nil {
		db.logger().Error("damaged records not set aside; reads skip them until they are", "count", len(found), "err", err)
		return
	}
	db.logSetAside(moved)
}

// forgetTouched drops the cached apps and tokens of the munged ids.
func (db *DB) forgetTouched(ids []string) {
	for _, id := range ids {
		db.cache.forget(id, true, true)
	}
}

// logSetAside logs each record set aside, once: a record is moved once.
// Never its bytes.
func (db *DB) logSetAside(moved []setAsideRecord) {
	for _, r := range moved {
		var what string
		switch r.Record {
		case oauth.RecordToken:
			what = "the app's saved login was damaged and set aside: the app needs a new login"
		case oauth.RecordApp:
			what = "the app's saved registration was damaged and set aside, with its token: its skill registers it again when it starts, then the app needs a new login"
		default:
			what = "a pending login was damaged and set aside: it ended; start the login again"
		}
		db.logger().Warn(what, "app", r.MungedID, "record", r.Record, "reason", r.Reason, "logins_ended", r.ended,
			"see", "ovos-oauth doctor lists damaged records and removes them")
	}
}

// Damaged lists the records set aside, oldest first. It reads only the
// quarantine bucket, which is normally empty. Safe for concurrent use.
func (db *DB) Damaged() ([]oauth.DamagedRecord, error) {
	if db.bolt == nil {
		return nil, errNotOpen
	}
	var out []oauth.DamagedRecord
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		out, err = listQuarantine(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list damaged records: %w", err)
	}
	return out, nil
}

// listQuarantine reads the quarantine bucket, if the file has one, oldest
// first.
func listQuarantine(tx *bolt.Tx) ([]oauth.DamagedRecord, error) {
	q := tx.Bucket([]byte(bucketQuarantine))
	if q == nil {
		return nil, nil
	}
	var out []oauth.DamagedRecord
	err := q.ForEachBucket(func(name []byte) error {
		sub := q.Bucket(name)
		rec := oauth.DamagedRecord{
			MungedID: string(sub.Get([]byte(quarantineApp))),
			Reason:   string(sub.Get([]byte(quarantineReason))),
		}
		if i := bytes.IndexByte(name, 0); i > 0 {
			rec.Record = recordOf(string(name[:i]))
		}
		if at, err := time.Parse(time.RFC3339Nano, string(sub.Get([]byte(quarantineAt)))); err == nil {
			rec.At = at
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b oauth.DamagedRecord) int { return a.At.Compare(b.At) })
	return out, nil
}

// recordOf names the kind of record a bucket holds.
func recordOf(bucket string) string {
	switch bucket {
	case bucketApps:
		return oauth.RecordApp
	case bucketTokens:
		return oauth.RecordToken
	case bucketFlows:
		return oauth.RecordLogin
	}
	return bucket
}
