package focus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

func TestFocusURI(t *testing.T) {
	tests := []struct {
		name      string
		organizer string
		want      string
	}{
		{"a SIP URI organizer gives its user part", "sip:olga@corp.example",
			"sip:olga@box.example;gruu;opaque=app:conf:focus:id:ABCD1234"},
		{"a bare user name is taken as it is", "olga",
			"sip:olga@box.example;gruu;opaque=app:conf:focus:id:ABCD1234"},
		{"a name-addr organizer gives its URI's user part", "Olga Smith <sip:olga.smith@corp.example>",
			"sip:olga.smith@box.example;gruu;opaque=app:conf:focus:id:ABCD1234"},
		{"characters a user part may not hold are escaped", "Olga Smith",
			"sip:Olga%20Smith@box.example;gruu;opaque=app:conf:focus:id:ABCD1234"},
		{"no organizer gives the dial-in number", "",
			"sip:7001@box.example;gruu;opaque=app:conf:focus:id:ABCD1234"},
	}
	h := newHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.fa.FocusURI(store.Conference{Number: "7001", FocusID: "ABCD1234", Organizer: tt.organizer})
			if got != tt.want {
				t.Errorf("FocusURI = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	h := newHarness(t)
	c := h.conference("7001", func(c *store.Conference) { c.FocusID = "ABCD1234" })
	digits := h.conference("7002", func(c *store.Conference) { c.FocusID = "55550000" })
	tests := []struct {
		name   string
		target string
		want   int64
		err    error
	}{
		{"a dial-in number", "7001", c.ID, nil},
		{"a SIP URI with the number", "sip:7001@box.example;user=phone", c.ID, nil},
		{"a tel URI with the number", "tel:7001", c.ID, nil},
		{"a Focus ID", "ABCD1234", c.ID, nil},
		{"a Focus ID in another letter case", "abcd1234", c.ID, nil},
		{"a Focus ID of digits only", "55550000", digits.ID, nil},
		{"a full Focus URI", "sip:olga@box.example;gruu;opaque=app:conf:focus:id:ABCD1234", c.ID, nil},
		{"a Focus URI in angle brackets", "<sip:olga@box.example;gruu;opaque=app:conf:focus:id:ABCD1234>", c.ID, nil},
		{"an unknown number", "7999", 0, ErrUnknownConference},
		{"an unknown Focus ID", "sip:x@box.example;gruu;opaque=app:conf:focus:id:NOPE0000", 0, ErrUnknownConference},
		{"nothing", "", 0, ErrUnknownConference},
	}
	for _, tt := range tests {
		t.Run(tt.name+" resolves", func(t *testing.T) {
			got, err := h.fa.Resolve(t.Context(), tt.target)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Resolve(%q) = %v, want %v", tt.target, err, tt.err)
			}
			if got.ID != tt.want {
				t.Errorf("Resolve(%q) = conference %d, want %d", tt.target, got.ID, tt.want)
			}
		})
	}
}

func TestConferenceCRUD(t *testing.T) {
	t.Run("an invalid conference is refused before the store", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.fa.CreateConference(t.Context(), store.Conference{Number: "x"})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("create = %v, want %v", err, store.ErrInvalid)
		}
	})
	t.Run("a number in use is a duplicate", func(t *testing.T) {
		h := newHarness(t)
		h.conference("7001", nil)
		_, err := h.fa.CreateConference(t.Context(), store.NewConference("7001"))
		if !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("create = %v, want %v", err, store.ErrDuplicate)
		}
	})
	t.Run("deleting an unknown conference is not found", func(t *testing.T) {
		h := newHarness(t)
		if err := h.fa.DeleteConference(t.Context(), 42); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete = %v, want %v", err, store.ErrNotFound)
		}
	})
	t.Run("conferences read back as stored", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		got, err := h.fa.GetConference(t.Context(), c.ID)
		if err != nil || got.Number != "7001" {
			t.Errorf("get = %+v, %v", got, err)
		}
		list, err := h.fa.ListConferences(t.Context())
		if err != nil || len(list) != 1 {
			t.Errorf("list = %+v, %v", list, err)
		}
	})
}

func TestFocusLifecycle(t *testing.T) {
	t.Run("the first join starts the Focus and the last leave ends it and releases the MCU", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		if len(h.fa.Active()) != 0 {
			t.Fatalf("a Focus runs before anyone joined")
		}
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		if got := h.fa.Active(); len(got) != 1 || got[0].ConferenceID() != c.ID {
			t.Errorf("active = %v, want conference %d", got, c.ID)
		}
		a.m.Leave(ReasonBye)
		if _, ok := h.fa.FocusByConference(c.ID); !ok {
			t.Errorf("the Focus ended with bert still in")
		}
		b.m.Leave(ReasonBye)
		if _, ok := h.fa.FocusByConference(c.ID); ok {
			t.Errorf("the Focus is still active with nobody in")
		}
		if allocs, releases := h.servers.counts(); allocs != 1 || releases != 1 {
			t.Errorf("allocations %d, releases %d; want 1 and 1", allocs, releases)
		}
		h.mustJoin(c, "carl", "")
		if allocs, _ := h.servers.counts(); allocs != 2 {
			t.Errorf("allocations after a new join = %d, want 2", allocs)
		}
	})
	t.Run("a join the MCU refuses ends the Focus it started", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		h.servers.addErr = mixer.ErrNoCommonCodec
		if _, err := h.join(c, h.call("anna", "")); !errors.Is(err, mixer.ErrNoCommonCodec) {
			t.Errorf("join = %v, want %v", err, mixer.ErrNoCommonCodec)
		}
		if len(h.fa.Active()) != 0 {
			t.Errorf("a Focus with nobody in it is active")
		}
		if allocs, releases := h.servers.counts(); allocs != 1 || releases != 1 {
			t.Errorf("allocations %d, releases %d; want 1 and 1", allocs, releases)
		}
	})
	t.Run("a join the MCU refuses leaves the others in", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		h.mcu(c).mu.Lock()
		h.mcu(c).addErr = mixer.ErrNoCommonCodec
		h.mcu(c).mu.Unlock()
		if _, err := h.join(c, h.call("bert", "")); !errors.Is(err, mixer.ErrNoCommonCodec) {
			t.Errorf("join = %v, want %v", err, mixer.ErrNoCommonCodec)
		}
		if a.state() != StateInConference {
			t.Errorf("anna is %v, want %v", a.state(), StateInConference)
		}
	})
	t.Run("no MCU to allocate makes the conference unavailable", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		h.servers.failWith = errors.New("pool empty")
		if _, err := h.join(c, h.call("anna", "")); !errors.Is(err, ErrUnavailable) {
			t.Errorf("join = %v, want %v", err, ErrUnavailable)
		}
		if len(h.fa.Active()) != 0 {
			t.Errorf("a Focus without an MCU is active")
		}
	})
	t.Run("an unknown target is an unknown conference", func(t *testing.T) {
		h := newHarness(t)
		_, _, err := h.fa.Join(t.Context(), "7999", h.call("anna", ""), &fakeLeg{})
		if !errors.Is(err, ErrUnknownConference) {
			t.Errorf("join = %v, want %v", err, ErrUnknownConference)
		}
	})
	t.Run("an expired conference has ended", func(t *testing.T) {
		h := newHarness(t)
		past := h.clock.Now().Add(-time.Hour)
		c := h.conference("7001", func(c *store.Conference) { c.Expiry = &past })
		if _, err := h.join(c, h.call("anna", "")); !errors.Is(err, ErrEnded) {
			t.Errorf("join = %v, want %v", err, ErrEnded)
		}
	})
	t.Run("deleting an active conference hangs everyone up", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		b := h.mustJoin(c, "bert", "") // still entering the PIN
		if err := h.fa.DeleteConference(t.Context(), c.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		for _, cl := range []*caller{a, b} {
			if got := cl.leg.reasons(); !slices.Equal(got, []string{ReasonConferenceDeleted}) {
				t.Errorf("%s hang-ups = %q, want %q", cl.m.call.DisplayName, got, ReasonConferenceDeleted)
			}
		}
		if _, ok := h.fa.FocusByConference(c.ID); ok {
			t.Errorf("the deleted conference is still active")
		}
		if _, releases := h.servers.counts(); releases != 1 {
			t.Errorf("releases = %d, want 1", releases)
		}
		rs, err := h.db.ListCallRecords(t.Context(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Reason != ReasonConferenceDeleted || r.LeftAt.IsZero() {
				t.Errorf("call record %+v, want finished with %q", r, ReasonConferenceDeleted)
			}
		}
	})
	t.Run("locking the stored conference locks the running one", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		h.mustJoin(c, "anna", "")
		c.Locked = true
		if _, err := h.fa.UpdateConference(t.Context(), c); err != nil {
			t.Fatalf("update: %v", err)
		}
		if !h.focus(c).Snapshot().Locked {
			t.Errorf("the running conference is not locked")
		}
		if _, err := h.join(c, h.call("bert", "")); !errors.Is(err, ErrLocked) {
			t.Errorf("join = %v, want %v", err, ErrLocked)
		}
	})
	t.Run("renaming the stored conference keeps a live lock", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		o := h.mustJoin(c, "olga", "olga")
		if err := o.do(Command{Kind: Lock}); err != nil {
			t.Fatal(err)
		}
		c.Name = "Renamed"
		if _, err := h.fa.UpdateConference(t.Context(), c); err != nil {
			t.Fatalf("update: %v", err)
		}
		s := h.focus(c).Snapshot()
		if !s.Locked || s.Name != "Renamed" {
			t.Errorf("locked %t, name %q; want locked and renamed", s.Locked, s.Name)
		}
	})
	t.Run("a media timeout hangs the call up", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventTimeout, Conference: c.FocusID, Participant: a.m.pid})
		if got := a.leg.reasons(); !slices.Equal(got, []string{ReasonMediaTimeout}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonMediaTimeout)
		}
	})
	t.Run("an event for no active conference is ignored", func(t *testing.T) {
		h := newHarness(t)
		h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventDTMF, Conference: "NOPE0000", Participant: 1, Digit: '1'})
	})
	t.Run("a re-INVITE goes to the MCU until the member leaves", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		if answer, err := a.m.Reoffer([]byte("new offer")); err != nil || string(answer) != "answer to new offer" {
			t.Errorf("Reoffer = %q, %v", answer, err)
		}
		h.mustJoin(c, "bert", "")
		a.m.Leave(ReasonBye)
		if _, err := a.m.Reoffer([]byte("late offer")); !errors.Is(err, ErrUnknownMember) {
			t.Errorf("Reoffer after leaving = %v, want %v", err, ErrUnknownMember)
		}
	})
	t.Run("close hangs everyone up and refuses new calls", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		h.fa.Close()
		if got := a.leg.reasons(); !slices.Equal(got, []string{ReasonShutdown}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonShutdown)
		}
		if _, err := h.join(c, h.call("bert", "")); !errors.Is(err, ErrUnavailable) {
			t.Errorf("join after close = %v, want %v", err, ErrUnavailable)
		}
	})
}

func TestCallRecords(t *testing.T) {
	t.Run("a call's record has its role, codec, times, reason and quality", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		o := h.mustJoin(c, "olga", "olga")
		joined := h.clock.Now()
		h.clock.Advance(time.Minute)
		o.m.Leave(ReasonBye)
		rs := h.records(c)
		if len(rs) != 1 {
			t.Fatalf("records = %+v, want 1", rs)
		}
		r := rs[0]
		want := store.CallRecord{
			ID: r.ID, ConferenceID: c.ID, ConferenceNumber: "7001", Participant: "olga <sip:olga@phones.example>",
			CallID: o.m.call.CallID, Role: "organizer", Codec: "PCMU", JoinedAt: joined,
			LeftAt: joined.Add(time.Minute), Reason: ReasonBye,
			Quality: store.Quality{PacketsReceived: 500, PacketsLost: 5, JitterMs: 12, MOS: 4.1},
		}
		if fmt.Sprintf("%+v", r) != fmt.Sprintf("%+v", want) {
			t.Errorf("record\n got %+v\nwant %+v", r, want)
		}
	})
}

func TestConcurrentCalls(t *testing.T) {
	t.Run("calls joining, pressing keys and leaving at once leave no Focus behind", func(t *testing.T) {
		h := newHarness(t)
		c1 := h.conference("7001", nil)
		c2 := h.conference("7002", func(c *store.Conference) { c.PIN = "1234" })
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := c1
				if i%2 == 1 {
					c = c2
				}
				for range 5 {
					cl, err := h.join(c, h.call(fmt.Sprintf("caller%d", i), ""))
					if err != nil {
						t.Errorf("join: %v", err)
						return
					}
					cl.press("1234#*1*6*0")
					cl.m.DTMF('*')
					cl.m.DTMF('1')
					if f, ok := h.fa.FocusByConference(c.ID); !ok || len(f.Snapshot().Members) == 0 {
						t.Errorf("conference %s is not active with a caller in it", c.Number)
					}
					cl.m.Leave(ReasonBye)
				}
			}()
		}
		wg.Wait()
		if got := h.fa.Active(); len(got) != 0 {
			t.Errorf("active after everyone left: %d", len(got))
		}
		if allocs, releases := h.servers.counts(); allocs != releases {
			t.Errorf("allocations %d, releases %d", allocs, releases)
		}
		if rs, _ := h.db.ListCallRecords(context.Background(), 0, 0); len(rs) != 80 {
			t.Errorf("call records = %d, want 80", len(rs))
		}
	})
}
