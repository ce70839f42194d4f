package store

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConferenceValidate(t *testing.T) {
	valid := NewConference("7001")
	for _, tc := range []struct {
		name   string
		change func(c *Conference)
		msg    string // "" for valid
	}{
		{"the product defaults are valid", func(c *Conference) {}, ""},
		{"an empty admission is valid", func(c *Conference) { c.Admission = "" }, ""},
		{"a full conference is valid", func(c *Conference) {
			c.FocusID, c.Name, c.Subject, c.Organizer = "ABCD1234efgh", "Weekly", "Budget", "sip:ann@example.com"
			c.PIN, c.ModeratorPIN, c.Admission, c.MaxMembers = "1234", "987654321012", AdmissionPIN, 20
			exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			c.Expiry = &exp
		}, ""},
		{"a one-digit number is invalid", func(c *Conference) { c.Number = "7" }, "number must be 2-15 digits"},
		{"a sixteen-digit number is invalid", func(c *Conference) { c.Number = "1234567890123456" }, "number must be 2-15 digits"},
		{"a number with a plus is invalid", func(c *Conference) { c.Number = "+4930" }, "number must be 2-15 digits"},
		{"a missing number is invalid", func(c *Conference) { c.Number = "" }, "number must be 2-15 digits"},
		{"a three-digit pin is invalid", func(c *Conference) { c.PIN = "123" }, "pin must be 4-12 digits"},
		{"a thirteen-digit pin is invalid", func(c *Conference) { c.PIN = "1234567890123" }, "pin must be 4-12 digits"},
		{"a pin with letters is invalid", func(c *Conference) { c.PIN = "12a4" }, "pin must be 4-12 digits"},
		{"a moderator pin with a hash is invalid", func(c *Conference) { c.ModeratorPIN = "1234#" }, "moderator pin must be 4-12 digits"},
		{"a moderator pin equal to the pin is invalid", func(c *Conference) { c.PIN, c.ModeratorPIN = "4321", "4321" },
			"moderator pin must differ from pin"},
		{"pin admission without a pin is invalid", func(c *Conference) { c.Admission = AdmissionPIN }, `pin is required when admission is "pin"`},
		{"an unknown admission is invalid", func(c *Conference) { c.Admission = "invite" }, "admission must be one of"},
		{"a short focus id is invalid", func(c *Conference) { c.FocusID = "ABC1234" }, "focus id must be 8-32 letters or digits"},
		{"a focus id with a dash is invalid", func(c *Conference) { c.FocusID = "ABCD-1234" }, "focus id must be 8-32 letters or digits"},
		{"negative max members is invalid", func(c *Conference) { c.MaxMembers = -1 }, "max members must not be negative"},
		{"a name with a newline is invalid", func(c *Conference) { c.Name = "a\r\nb" }, "name must not contain control characters"},
		{"an overlong name is invalid", func(c *Conference) { c.Name = strings.Repeat("n", 129) }, "name must be at most 128 characters"},
		{"a name in invalid UTF-8 is invalid", func(c *Conference) { c.Name = "\xff" }, "name must be valid UTF-8"},
		{"a zero expiry is invalid", func(c *Conference) { c.Expiry = &time.Time{} }, "expiry must be a time or unset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			err := c.Validate()
			if tc.msg == "" {
				wantErr(t, err, nil, "")
				return
			}
			wantErr(t, err, ErrInvalid, tc.msg)
		})
	}
}

func TestCreateConference(t *testing.T) {
	ctx := context.Background()

	t.Run("the stored conference comes back with id, focus id and times", func(t *testing.T) {
		s, clock, _ := openTest(t)
		in := NewConference("7001")
		in.Name, in.PIN, in.ModeratorPIN, in.MaxMembers = "Standup", "1234", "5678", 12
		exp := time.Date(2026, 12, 31, 23, 0, 0, 5, time.FixedZone("CET", 3600))
		in.Expiry = &exp
		got, err := s.CreateConference(ctx, in)
		wantErr(t, err, nil, "")
		if got.ID == 0 {
			t.Error("ID not set")
		}
		if !regexp.MustCompile(`^[A-Z0-9]{8}$`).MatchString(got.FocusID) {
			t.Errorf("generated focus id %q is not 8 upper-case letters or digits", got.FocusID)
		}
		if !got.CreatedAt.Equal(clock.Now()) || !got.UpdatedAt.Equal(clock.Now()) {
			t.Errorf("times = %v, %v, want %v", got.CreatedAt, got.UpdatedAt, clock.Now())
		}
		if got.Expiry == nil || !got.Expiry.Equal(exp) {
			t.Errorf("expiry = %v, want %v", got.Expiry, exp)
		}
		want := in
		want.ID, want.FocusID, want.CreatedAt, want.UpdatedAt, want.Expiry = got.ID, got.FocusID, got.CreatedAt, got.UpdatedAt, got.Expiry
		if got != want {
			t.Errorf("created = %+v, want %+v", got, want)
		}
		read, err := s.GetConference(ctx, got.ID)
		wantErr(t, err, nil, "")
		if read.Expiry == nil || !read.Expiry.Equal(exp) {
			t.Fatalf("expiry read back = %v", read.Expiry)
		}
		read.Expiry = got.Expiry
		if read != got {
			t.Errorf("read back = %+v, want %+v", read, got)
		}
	})

	t.Run("an empty admission is stored as open", func(t *testing.T) {
		s, _, _ := openTest(t)
		got, err := s.CreateConference(ctx, Conference{Number: "42"})
		wantErr(t, err, nil, "")
		if got.Admission != AdmissionOpen || got.Announcements {
			t.Errorf("admission %q, announcements %v; want open, false as given", got.Admission, got.Announcements)
		}
	})

	for _, tc := range []struct {
		name   string
		first  Conference
		second Conference
		target error
		msg    string
	}{
		{"a number already taken is a duplicate", NewConference("7001"), NewConference("7001"),
			ErrDuplicate, "conference number 7001"},
		{"a focus id already taken, in another case, is a duplicate",
			Conference{Number: "7001", FocusID: "ABCDEFGH"}, Conference{Number: "7002", FocusID: "abcdefgh"},
			ErrDuplicate, `focus id "abcdefgh"`},
		{"a bad pin is invalid", NewConference("7001"), Conference{Number: "7002", PIN: "12"},
			ErrInvalid, "pin must be 4-12 digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := openTest(t)
			_, err := s.CreateConference(ctx, tc.first)
			wantErr(t, err, nil, "")
			_, err = s.CreateConference(ctx, tc.second)
			wantErr(t, err, tc.target, tc.msg)
			all, err := s.ListConferences(ctx)
			wantErr(t, err, nil, "")
			if len(all) != 1 {
				t.Fatalf("%d conferences stored, want 1", len(all))
			}
		})
	}
}

func TestConferenceLookups(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	created, err := s.CreateConference(ctx, Conference{Number: "7001", FocusID: "Focus0001"})
	wantErr(t, err, nil, "")
	for _, tc := range []struct {
		name   string
		lookup func() (Conference, error)
		target error
	}{
		{"by id", func() (Conference, error) { return s.GetConference(ctx, created.ID) }, nil},
		{"by number", func() (Conference, error) { return s.ConferenceByNumber(ctx, "7001") }, nil},
		{"by focus id in another case", func() (Conference, error) { return s.ConferenceByFocusID(ctx, "FOCUS0001") }, nil},
		{"an unknown id is not found", func() (Conference, error) { return s.GetConference(ctx, created.ID+1) }, ErrNotFound},
		{"an unknown number is not found", func() (Conference, error) { return s.ConferenceByNumber(ctx, "7002") }, ErrNotFound},
		{"an unknown focus id is not found", func() (Conference, error) { return s.ConferenceByFocusID(ctx, "Focus0002") }, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.lookup()
			wantErr(t, err, tc.target, "")
			if tc.target == nil && got.ID != created.ID {
				t.Fatalf("found conference %d, want %d", got.ID, created.ID)
			}
		})
	}
}

func TestUpdateConference(t *testing.T) {
	ctx := context.Background()

	t.Run("every field is replaced and the creation time kept", func(t *testing.T) {
		s, clock, _ := openTest(t)
		c, err := s.CreateConference(ctx, NewConference("7001"))
		wantErr(t, err, nil, "")
		clock.Advance(time.Hour)
		c.FocusID = ""
		c.Number, c.Name, c.Subject, c.Organizer = "7100", "Board", "Q3", "sip:bob@example.com"
		c.PIN, c.ModeratorPIN, c.Admission = "2468", "13579", AdmissionLobby
		c.Locked, c.MaxMembers, c.WaitForLeader, c.EndWhenLeaderLeaves, c.Announcements = true, 5, true, true, false
		got, err := s.UpdateConference(ctx, c)
		wantErr(t, err, nil, "")
		old, _ := s.ConferenceByNumber(ctx, "7100")
		if got.FocusID == "" || got.FocusID != old.FocusID {
			t.Errorf("focus id %q, want it kept", got.FocusID)
		}
		if !got.UpdatedAt.Equal(clock.Now()) || !got.CreatedAt.Equal(clock.Now().Add(-time.Hour)) {
			t.Errorf("created %v updated %v", got.CreatedAt, got.UpdatedAt)
		}
		want := c
		want.FocusID, want.UpdatedAt = got.FocusID, got.UpdatedAt
		if got != want {
			t.Errorf("updated = %+v, want %+v", got, want)
		}
		if _, err := s.ConferenceByNumber(ctx, "7001"); err == nil {
			t.Error("old number still resolves")
		}
	})

	for _, tc := range []struct {
		name   string
		change func(c *Conference)
		target error
		msg    string
	}{
		{"an unknown id is not found", func(c *Conference) { c.ID += 100 }, ErrNotFound, "conference"},
		{"another conference's number is a duplicate", func(c *Conference) { c.Number = "7002" }, ErrDuplicate, "7002"},
		{"a bad moderator pin is invalid", func(c *Conference) { c.ModeratorPIN = "1" }, ErrInvalid, "moderator pin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := openTest(t)
			c, err := s.CreateConference(ctx, NewConference("7001"))
			wantErr(t, err, nil, "")
			_, err = s.CreateConference(ctx, NewConference("7002"))
			wantErr(t, err, nil, "")
			before := c
			tc.change(&c)
			_, err = s.UpdateConference(ctx, c)
			wantErr(t, err, tc.target, tc.msg)
			after, err := s.GetConference(ctx, before.ID)
			wantErr(t, err, nil, "")
			if after != before {
				t.Fatalf("failed update changed the conference: %+v", after)
			}
		})
	}
}

func TestDeleteConference(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := openTest(t)
	c, err := s.CreateConference(ctx, NewConference("7001"))
	wantErr(t, err, nil, "")
	id, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: c.ID, Participant: "Ann", CallID: "a1", JoinedAt: clock.Now()})
	wantErr(t, err, nil, "")
	trunk, err := s.CreateTrunk(ctx, Trunk{Name: "carrier", DIDs: []DID{{Number: "+4930123", Conference: "7001"}}})
	wantErr(t, err, nil, "")

	t.Run("the conference is gone", func(t *testing.T) {
		wantErr(t, s.DeleteConference(ctx, c.ID), nil, "")
		_, err := s.GetConference(ctx, c.ID)
		wantErr(t, err, ErrNotFound, "")
	})
	t.Run("deleting it again is not found", func(t *testing.T) {
		wantErr(t, s.DeleteConference(ctx, c.ID), ErrNotFound, "")
	})
	t.Run("its call records stay with the number", func(t *testing.T) {
		rs, err := s.ListCallRecords(ctx, 0, 0)
		wantErr(t, err, nil, "")
		if len(rs) != 1 || rs[0].ID != id || rs[0].ConferenceID != 0 || rs[0].ConferenceNumber != "7001" {
			t.Fatalf("call records = %+v", rs)
		}
	})
	t.Run("DIDs routed to it fall back to asking", func(t *testing.T) {
		conf, err := s.ConferenceForDID(ctx, trunk.ID, "+4930123")
		wantErr(t, err, nil, "")
		if conf != "" {
			t.Fatalf("DID routes to %q, want \"\"", conf)
		}
	})
}

func TestListConferences(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)

	t.Run("an empty database lists nothing", func(t *testing.T) {
		cs, err := s.ListConferences(ctx)
		wantErr(t, err, nil, "")
		if len(cs) != 0 {
			t.Fatalf("listed %d", len(cs))
		}
	})
	t.Run("conferences are listed by number", func(t *testing.T) {
		for _, n := range []string{"7003", "10", "7001"} {
			_, err := s.CreateConference(ctx, NewConference(n))
			wantErr(t, err, nil, "")
		}
		cs, err := s.ListConferences(ctx)
		wantErr(t, err, nil, "")
		var got []string
		for _, c := range cs {
			got = append(got, c.Number)
		}
		if strings.Join(got, ",") != "10,7001,7003" {
			t.Fatalf("order = %v", got)
		}
	})
}

func TestNewFocusID(t *testing.T) {
	t.Run("ids are valid and do not repeat", func(t *testing.T) {
		seen := make(map[string]bool)
		for range 10000 {
			id := newFocusID()
			if !validFocusID(id) || strings.ToUpper(id) != id || len(id) != 8 {
				t.Fatalf("bad id %q", id)
			}
			if seen[id] {
				t.Fatalf("id %q repeated", id)
			}
			seen[id] = true
		}
	})
	t.Run("every character of the alphabet turns up", func(t *testing.T) {
		counts := make(map[rune]int)
		for range 2000 {
			for _, r := range newFocusID() {
				counts[r]++
			}
		}
		if len(counts) != len(focusIDAlphabet) {
			t.Fatalf("%d distinct characters, want %d", len(counts), len(focusIDAlphabet))
		}
	})
}
