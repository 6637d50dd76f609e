package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// openWithApps opens a store holding fullApp("skill", id) for each id.
func openWithApps(t *testing.T, appIDs ...string) *store.DB {
	t.Helper()
	db := storetest.Open(t)
	for _, id := range appIDs {
		if err := db.PutApp(fullApp("skill", id), false); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestFlowRoundTrip(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	want := fullFlow("f1", "skill_app", at(0))
	// As a run spent it and the next reported it: every field is kept.
	want.Spent, want.SpentBy, want.Interrupted = at(1), "run-1", at(2)
	checkAllSet(t, want)
	if err := db.PutFlow(want, 3); err != nil {
		t.Fatalf("PutFlow() = %v", err)
	}
	for i := range 2 { // Flow does not consume
		got, err := db.Flow("f1")
		if err != nil {
			t.Fatalf("Flow() #%d = %v", i+1, err)
		}
		if diff := cmp.Diff(got, want, equateTimes); diff != "" {
			t.Errorf("Flow() #%d mismatch (-got +want):\n%s", i+1, diff)
		}
	}
	if _, err := db.Flow("nope"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Flow() of unknown id = %v, want ErrNotFound", err)
	}
}

// TestPutSetupWithoutState: a setup has no state, as a device login has
// none: it is stored under its id, found by nothing else, and deleted once.
func TestPutSetupWithoutState(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	f := &oauth.Flow{ID: "s1", Kind: oauth.FlowSetup, MungedID: "skill_app", SetupKey: "key", Created: at(0), Expires: at(10)}
	if err := db.PutFlow(f, 3); err != nil {
		t.Fatalf("PutFlow(setup) = %v", err)
	}
	got, err := db.Flow("s1")
	if err != nil || got.SetupKey != "key" {
		t.Fatalf("Flow() = %v, %v; want the setup with its key", got, err)
	}
	if _, err := db.FlowByState(""); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState(\"\") = %v, want ErrNotFound", err)
	}
	if err := db.DeleteFlow("s1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteFlow("s1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("second DeleteFlow() = %v, want ErrNotFound: a setup is spent once", err)
	}
	// Another kind still needs a state.
	if err := db.PutFlow(&oauth.Flow{ID: "c1", Kind: oauth.FlowCode, MungedID: "skill_app", Created: at(0), Expires: at(10)}, 3); err == nil {
		t.Error("PutFlow() of a code login without a state = nil error")
	}
}

func TestTakeFlowSingleUse(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	want := fullFlow("f1", "skill_app", at(0))
	if err := db.PutFlow(want, 0); err != nil {
		t.Fatal(err)
	}
	state := want.State.Reveal()

	got, err := db.TakeFlow(state)
	if err != nil {
		t.Fatalf("TakeFlow() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("TakeFlow() mismatch (-got +want):\n%s", diff)
	}

	_, err = db.TakeFlow(state)
	if !errors.Is(err, oauth.ErrNotFound) {
		t.Fatalf("second TakeFlow() = %v, want ErrNotFound", err)
	}
	if strings.Contains(err.Error(), state) {
		t.Errorf("TakeFlow() error %q contains the state", err)
	}
	if _, err := db.Flow("f1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Flow() after TakeFlow = %v, want ErrNotFound", err)
	}
	if _, err := db.TakeFlow(""); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("TakeFlow(\"\") = %v, want ErrNotFound", err)
	}
}

func TestTakeFlowConcurrent(t *testing.T) {
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
			f, err := db.TakeFlow(flow.State.Reveal())
			switch {
			case err == nil && f.ID == flow.ID:
				won.Add(1)
			case errors.Is(err, oauth.ErrNotFound):
				lost.Add(1)
			default:
				t.Errorf("TakeFlow() = %v, %v", f, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 31 {
		t.Errorf("TakeFlow() winners = %d, losers = %d; want 1 and 31", won.Load(), lost.Load())
	}
}

func TestPutFlowKeepPerApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keep    int
		created []int // minute of each flow, in put order; flow i is "p<i>"
		want    []string
	}{
		{name: "unlimited", keep: 0, created: []int{0, 1, 2, 3, 4}, want: []string{"p0", "p1", "p2", "p3", "p4"}},
		{name: "negative is unlimited", keep: -1, created: []int{0, 1, 2}, want: []string{"p0", "p1", "p2"}},
		{name: "under the limit", keep: 5, created: []int{0, 1, 2}, want: []string{"p0", "p1", "p2"}},
		{name: "keep newest", keep: 3, created: []int{0, 1, 2, 3, 4}, want: []string{"p2", "p3", "p4"}},
		{name: "keep one", keep: 1, created: []int{0, 1, 2}, want: []string{"p2"}},
		// Oldest by Created, not by put order: after p3 (minute 1) the
		// others kept are p0 (3) and p2 (4); p4 (2) then pushes out p3.
		{name: "by created", keep: 3, created: []int{3, 0, 4, 1, 2}, want: []string{"p0", "p2", "p4"}},
		// Equal times, as under a frozen test clock: the flow just put is
		// never the one evicted.
		{name: "equal times", keep: 2, created: []int{0, 0, 0, 0}, want: []string{"p2", "p3"}},
	}
	for _, tt := range tests {
		for _, legacy := range []bool{false, true} {
			name := tt.name
			if legacy {
				// Index entries written by a release whose entries were
				// empty: the flows are read for their times and states.
				name += "/legacy index"
			}
			t.Run(name, func(t *testing.T) {
				db := openWithApps(t, "app", "other")
				other := fullFlow("other", "skill_other", at(-10))
				if err := db.PutFlow(other, 1); err != nil {
					t.Fatal(err)
				}
				var put []*oauth.Flow
				for i, m := range tt.created {
					f := fullFlow(fmt.Sprintf("p%d", i), "skill_app", at(m))
					if err := db.PutFlow(f, tt.keep); err != nil {
						t.Fatalf("PutFlow(%s, %d) = %v", f.ID, tt.keep, err)
					}
					if legacy && i%2 == 0 { // a mix of old and new entries
						if err := db.ForgetIndexValues(); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := db.Flow(f.ID); err != nil {
						t.Fatalf("Flow(%s) just after PutFlow = %v", f.ID, err)
					}
					put = append(put, f)
				}

				var got []string
				for _, f := range put {
					_, err := db.Flow(f.ID)
					switch {
					case err == nil:
						got = append(got, f.ID)
					case !errors.Is(err, oauth.ErrNotFound):
						t.Fatalf("Flow(%s) = %v", f.ID, err)
					}
				}
				if diff := cmp.Diff(got, tt.want); diff != "" {
					t.Errorf("flows kept mismatch (-got +want):\n%s", diff)
				}

				// Evicted flows lose their state too; kept ones keep it.
				for _, f := range put {
					_, err := db.TakeFlow(f.State.Reveal())
					if kept := slices.Contains(tt.want, f.ID); kept != (err == nil) {
						t.Errorf("TakeFlow(state of %s) = %v, want kept = %v", f.ID, err, kept)
					}
				}
				if _, err := db.Flow(other.ID); err != nil {
					t.Errorf("Flow() of another app's flow = %v, want it kept", err)
				}
			})
		}
	}
}

func TestPutFlowStateClash(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	first := fullFlow("f1", "skill_app", at(0))
	if err := db.PutFlow(first, 0); err != nil {
		t.Fatal(err)
	}
	second := fullFlow("f2", "skill_app", at(1))
	second.State = first.State
	err := db.PutFlow(second, 0)
	if err == nil {
		t.Fatal("PutFlow() with another flow's state = nil, want an error")
	}
	if strings.Contains(err.Error(), first.State.Reveal()) {
		t.Errorf("PutFlow() error %q contains the state", err)
	}
	if _, err := db.Flow("f2"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Flow(f2) after refused PutFlow = %v, want ErrNotFound", err)
	}
	got, err := db.TakeFlow(first.State.Reveal())
	if err != nil || got.ID != "f1" {
		t.Errorf("TakeFlow() = %v, %v; want flow f1", got, err)
	}
}

func TestPutFlowReplace(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	old := fullFlow("f1", "skill_app", at(0))
	if err := db.PutFlow(old, 0); err != nil {
		t.Fatal(err)
	}
	// Same id, same state: an update in place.
	if err := db.PutFlow(old, 0); err != nil {
		t.Fatalf("PutFlow() of the same flow again = %v", err)
	}
	renewed := fullFlow("f1", "skill_app", at(1))
	renewed.State = "new-state"
	if err := db.PutFlow(renewed, 0); err != nil {
		t.Fatalf("PutFlow() replacing f1 = %v", err)
	}
	if _, err := db.TakeFlow(old.State.Reveal()); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("TakeFlow(old state) = %v, want ErrNotFound", err)
	}
	got, err := db.TakeFlow("new-state")
	if err != nil {
		t.Fatalf("TakeFlow(new state) = %v", err)
	}
	if diff := cmp.Diff(got, renewed, equateTimes); diff != "" {
		t.Errorf("TakeFlow() mismatch (-got +want):\n%s", diff)
	}
}

func TestPutFlowInvalid(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	noApp := fullFlow("f1", "skill_nope", at(0))
	noID := fullFlow("", "skill_app", at(0))
	noState := fullFlow("f2", "skill_app", at(0))
	noState.State = ""

	if err := db.PutFlow(noApp, 0); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("PutFlow() for unknown app = %v, want ErrNotFound", err)
	}
	if _, err := db.TakeFlow(noApp.State.Reveal()); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("TakeFlow() after refused PutFlow = %v, want ErrNotFound", err)
	}
	if err := db.PutFlow(noID, 0); err == nil {
		t.Error("PutFlow() without id = nil, want an error")
	}
	if err := db.PutFlow(noState, 0); err == nil {
		t.Error("PutFlow() without state = nil, want an error")
	}
}

func TestDeleteExpiredFlows(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app", "other")
	now := at(30)
	flows := map[string]time.Time{ // id → Expires
		"expired":       now.Add(-time.Minute),
		"long-expired":  now.Add(-24 * time.Hour),
		"expires-now":   now, // not before now: kept
		"fresh":         now.Add(time.Minute),
		"other-expired": now.Add(-time.Second),
	}
	for id, exp := range flows {
		app := "skill_app"
		if strings.HasPrefix(id, "other") {
			app = "skill_other"
		}
		f := fullFlow(id, app, exp.Add(-10*time.Minute))
		f.Expires = exp.In(time.UTC) // a different zone from now's
		if err := db.PutFlow(f, 0); err != nil {
			t.Fatal(err)
		}
	}

	n, err := db.DeleteExpiredFlows(now)
	if err != nil {
		t.Fatalf("DeleteExpiredFlows() = %v", err)
	}
	if n != 3 {
		t.Errorf("DeleteExpiredFlows() = %d, want 3", n)
	}
	var kept []string
	for id := range flows {
		_, err := db.Flow(id)
		switch {
		case err == nil:
			kept = append(kept, id)
		case !errors.Is(err, oauth.ErrNotFound):
			t.Fatalf("Flow(%s) = %v", id, err)
		}
		// The state goes with the flow.
		if _, err := db.TakeFlow("state-" + id); (err == nil) != slices.Contains(kept, id) {
			t.Errorf("TakeFlow(state of %s) = %v after DeleteExpiredFlows", id, err)
		}
	}
	slices.Sort(kept)
	if diff := cmp.Diff(kept, []string{"expires-now", "fresh"}); diff != "" {
		t.Errorf("flows kept mismatch (-got +want):\n%s", diff)
	}

	if n, err := db.DeleteExpiredFlows(now); n != 0 || err != nil {
		t.Errorf("DeleteExpiredFlows() again = %d, %v; want 0, nil", n, err)
	}
}

func TestFlows(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	if got, err := db.Flows(); err != nil || len(got) != 0 {
		t.Fatalf("Flows() on an empty store = %v, %v; want none", got, err)
	}
	want := map[string]bool{}
	for i := range 3 {
		f := &oauth.Flow{ID: fmt.Sprintf("F%d", i), Kind: oauth.FlowCode, MungedID: "skill_app", State: oauth.Secret(fmt.Sprintf("state-%d", i))}
		if err := db.PutFlow(f, 0); err != nil {
			t.Fatal(err)
		}
		want[f.ID] = true
	}
	got, err := db.Flows()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Flows() returned %d flows, want %d", len(got), len(want))
	}
	for _, f := range got {
		if !want[f.ID] {
			t.Errorf("Flows() returned unexpected flow %s", f.ID)
		}
	}
}

// TestDeviceFlows: a device login has no state; it is stored, found by id,
// deleted once, and never found by an empty state.
func TestDeviceFlows(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	f := fullFlow("dev", "skill_app", at(0))
	f.Kind, f.State, f.Verifier = oauth.FlowDevice, "", ""
	if err := db.PutFlow(f, 1); err != nil {
		t.Fatalf("PutFlow(device) = %v", err)
	}
	// A second device login without state beside it: no clash on "".
	g := fullFlow("dev2", "skill_app", at(1))
	g.Kind, g.State = oauth.FlowDevice, ""
	if err := db.PutFlow(g, 0); err != nil {
		t.Fatalf("PutFlow(second device) = %v", err)
	}
	if _, err := db.FlowByState(""); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState(\"\") = %v, want ErrNotFound", err)
	}
	if _, err := db.TakeFlow(""); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("TakeFlow(\"\") = %v, want ErrNotFound", err)
	}
	if err := db.DeleteFlow("dev"); err != nil {
		t.Fatalf("DeleteFlow() = %v", err)
	}
	if err := db.DeleteFlow("dev"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("DeleteFlow() twice = %v, want ErrNotFound", err)
	}
	if got, err := db.Flow("dev2"); err != nil || got.Kind != oauth.FlowDevice {
		t.Errorf("Flow(dev2) = %v, %v", got, err)
	}
	// An expired device login is left to its poll, which reports it.
	if n, err := db.DeleteExpiredFlows(at(60)); err != nil || n != 0 {
		t.Errorf("DeleteExpiredFlows() = %d, %v; want the device login kept", n, err)
	}
	// A code flow without state is still refused.
	c := fullFlow("code", "skill_app", at(2))
	c.State = ""
	if err := db.PutFlow(c, 0); err == nil {
		t.Errorf("PutFlow(code flow without state) = nil, want an error")
	}
}

// TestFlowByState peeks without consuming; DeleteFlow drops the state too.
func TestFlowByState(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	f := fullFlow("f1", "skill_app", at(0))
	if err := db.PutFlow(f, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := db.FlowByState(f.State.Reveal())
		if err != nil || got.ID != "f1" {
			t.Fatalf("FlowByState() = %v, %v", got, err)
		}
	}
	if _, err := db.FlowByState("other"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState(other) = %v, want ErrNotFound", err)
	}
	if err := db.DeleteFlow("f1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FlowByState(f.State.Reveal()); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState() after DeleteFlow = %v, want ErrNotFound", err)
	}
}

// TestPutFlowEvictsUnread: storing a login beside the app's others, and
// evicting the oldest, opens none of them: the index holds their times and
// state keys.
func TestPutFlowEvictsUnread(t *testing.T) {
	t.Parallel()
	db := openWithApps(t, "app")
	for i := range 4 {
		if err := db.PutFlow(fullFlow(fmt.Sprintf("p%d", i), "skill_app", at(i)), 4); err != nil {
			t.Fatal(err)
		}
	}
	before := db.Decoded()
	if err := db.PutFlow(fullFlow("p4", "skill_app", at(4)), 4); err != nil {
		t.Fatal(err)
	}
	if n := db.Decoded() - before; n != 0 {
		t.Errorf("PutFlow() beside 4 flows opened %d sealed values, want 0", n)
	}
	if _, err := db.Flow("p0"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Flow(oldest) = %v, want it evicted", err)
	}
}
