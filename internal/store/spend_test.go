package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// TestSpendFlowSingleUse: SpendFlow returns the pending flow once, marks
// the stored one spent without its verifier, and the mark survives the
// store's closing: no later spend, take or sweep gets the state again.
func TestSpendFlowSingleUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	want := fullFlow("f1", "skill_app", at(0))
	if err := db.PutFlow(want, 0); err != nil {
		t.Fatal(err)
	}
	state := want.State.Reveal()
	got, err := db.SpendFlow(state, "run-1", at(5))
	if err != nil {
		t.Fatalf("SpendFlow() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("SpendFlow() mismatch (-got +want):\n%s", diff)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = storetest.Open(t, storetest.Path(path))
	spent := *want
	spent.Spent, spent.SpentBy, spent.Verifier = at(5), "run-1", ""
	stored, err := db.FlowByState(state)
	if err != nil {
		t.Fatalf("FlowByState() of the spent flow = %v", err)
	}
	if diff := cmp.Diff(stored, &spent, equateTimes); diff != "" {
		t.Errorf("spent flow as stored mismatch (-got +want):\n%s", diff)
	}
	for name, spend := range map[string]func() error{
		"SpendFlow": func() error { _, err := db.SpendFlow(state, "run-2", at(6)); return err },
		"TakeFlow":  func() error { _, err := db.TakeFlow(state); return err },
	} {
		err := spend()
		if !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("%s() of a spent state = %v, want ErrNotFound", name, err)
		} else if strings.Contains(err.Error(), state) {
			t.Errorf("%s() error %q contains the state", name, err)
		}
	}
	if _, err := db.SpendFlow("", "run-2", at(6)); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("SpendFlow(\"\") = %v, want ErrNotFound", err)
	}

	// Long expired, but its exchange may still run: not swept until the
	// next run marks it interrupted.
	if n, err := db.DeleteExpiredFlows(at(59)); err != nil || n != 0 {
		t.Errorf("DeleteExpiredFlows() of a spent flow = %d, %v; want 0", n, err)
	}
	stored.Interrupted, stored.Expires = at(30), at(40)
	if err := db.PutFlow(stored, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteExpiredFlows(at(39)); err != nil || n != 0 {
		t.Errorf("DeleteExpiredFlows() before the record's end = %d, %v; want 0", n, err)
	}
	if n, err := db.DeleteExpiredFlows(at(41)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredFlows() after the record's end = %d, %v; want 1", n, err)
	}
	if _, err := db.FlowByState(state); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState() after the sweep = %v, want ErrNotFound", err)
	}
}

func TestSpendFlowConcurrent(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	flow := fullFlow("f1", "skill_app", at(0))
	if err := db.PutFlow(flow, 0); err != nil {
		t.Fatal(err)
	}
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 32 {
		wg.Go(func() {
			<-start
			f, err := db.SpendFlow(flow.State.Reveal(), "run", at(1))
			switch {
			case err == nil && f.ID == flow.ID:
				won.Add(1)
			case errors.Is(err, oauth.ErrNotFound):
				lost.Add(1)
			default:
				t.Errorf("SpendFlow() = %v, %v", f, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 31 {
		t.Errorf("SpendFlow() winners = %d, losers = %d; want 1 and 31", won.Load(), lost.Load())
	}
}

// TestPutLoginToken: the token a login was issued and the end of its flow
// are one write; a flow already gone, or another app's, is left alone.
func TestPutLoginToken(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app", "other")
	mine, theirs := fullFlow("f1", "skill_app", at(0)), fullFlow("f2", "skill_other", at(0))
	for _, f := range []*oauth.Flow{mine, theirs} {
		if err := db.PutFlow(f, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SpendFlow(mine.State.Reveal(), "run", at(1)); err != nil {
		t.Fatal(err)
	}
	writes := db.Writes()
	if err := db.PutLoginToken("skill_app", fullToken("access"), mine.ID); err != nil {
		t.Fatalf("PutLoginToken() = %v", err)
	}
	if n := db.Writes() - writes; n != 1 {
		t.Errorf("PutLoginToken() committed %d transactions, want 1", n)
	}
	if tok, err := db.Token("skill_app"); err != nil || tok.AccessToken != "access" {
		t.Errorf("Token() after PutLoginToken = %v, %v", tok, err)
	}
	if _, err := db.Flow(mine.ID); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Flow() of the finished login = %v, want ErrNotFound", err)
	}
	if _, err := db.FlowByState(mine.State.Reveal()); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState() of the finished login = %v, want ErrNotFound", err)
	}
	if flows, err := db.FlowsOf("skill_app"); err != nil || len(flows) != 0 {
		t.Errorf("FlowsOf() after PutLoginToken = %d flows, %v; want none", len(flows), err)
	}

	// Gone already: the token is stored all the same.
	if err := db.PutLoginToken("skill_app", fullToken("again"), mine.ID); err != nil {
		t.Errorf("PutLoginToken() of a gone flow = %v", err)
	}
	// Another app's flow is never ended by this app's token.
	if err := db.PutLoginToken("skill_app", fullToken("third"), theirs.ID); err != nil {
		t.Errorf("PutLoginToken() naming another app's flow = %v", err)
	}
	if _, err := db.Flow(theirs.ID); err != nil {
		t.Errorf("Flow() of the other app's login = %v, want it kept", err)
	}
	if err := db.PutLoginToken("skill_gone", fullToken("x"), theirs.ID); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("PutLoginToken() for a missing app = %v, want ErrNotFound", err)
	}
}
