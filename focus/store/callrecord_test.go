package store

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestCallRecords(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := openTest(t)
	conf, err := s.CreateConference(ctx, NewConference("7001"))
	wantErr(t, err, nil, "")
	other, err := s.CreateConference(ctx, NewConference("7002"))
	wantErr(t, err, nil, "")
	joined := clock.Now()

	var id int64
	t.Run("a started record is open and names its conference", func(t *testing.T) {
		id, err = s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, Participant: `"Ann" <sip:201@box>`,
			CallID: "c1@phone", Role: "presenter", Codec: "G722", JoinedAt: joined})
		wantErr(t, err, nil, "")
		rs, err := s.ListCallRecords(ctx, conf.ID, 10)
		wantErr(t, err, nil, "")
		want := CallRecord{ID: id, ConferenceID: conf.ID, ConferenceNumber: "7001", Participant: `"Ann" <sip:201@box>`,
			CallID: "c1@phone", Role: "presenter", Codec: "G722", JoinedAt: joined}
		if len(rs) != 1 || rs[0] != want {
			t.Fatalf("records = %+v, want [%+v]", rs, want)
		}
	})

	t.Run("a finished record carries when, why and how well", func(t *testing.T) {
		left := joined.Add(42 * time.Minute)
		q := Quality{PacketsReceived: 126000, PacketsLost: 17, JitterMs: 3.25, MOS: 4.3}
		wantErr(t, s.FinishCallRecord(ctx, id, left, "bye", q), nil, "")
		rs, err := s.ListCallRecords(ctx, conf.ID, 10)
		wantErr(t, err, nil, "")
		if len(rs) != 1 || !rs[0].LeftAt.Equal(left) || rs[0].Reason != "bye" || rs[0].Quality != q {
			t.Fatalf("records = %+v", rs)
		}
	})

	for _, tc := range []struct {
		name   string
		op     func() error
		target error
		msg    string
	}{
		{"finishing a record twice is invalid", func() error {
			return s.FinishCallRecord(ctx, id, joined.Add(time.Hour), "bye", Quality{})
		}, ErrInvalid, "already finished"},
		{"finishing an unknown record is not found", func() error {
			return s.FinishCallRecord(ctx, id+100, joined, "bye", Quality{})
		}, ErrNotFound, ""},
		{"a MOS above 5 is invalid", func() error {
			return s.FinishCallRecord(ctx, id, joined, "bye", Quality{MOS: 5.5})
		}, ErrInvalid, "mos must be between 1 and 5"},
		{"a NaN jitter is invalid", func() error {
			return s.FinishCallRecord(ctx, id, joined, "bye", Quality{JitterMs: math.NaN()})
		}, ErrInvalid, "jitter"},
		{"a record of an unknown conference is not found", func() error {
			_, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: 999, CallID: "x", JoinedAt: joined})
			return err
		}, ErrNotFound, "conference 999"},
		{"a record without a call-id is invalid", func() error {
			_, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, JoinedAt: joined})
			return err
		}, ErrInvalid, "call-id is required"},
		{"a record without a join time is invalid", func() error {
			_, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, CallID: "x"})
			return err
		}, ErrInvalid, "joined at is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.op(), tc.target, tc.msg)
		})
	}

	t.Run("leaving before joining is invalid", func(t *testing.T) {
		id2, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, CallID: "c2", JoinedAt: joined})
		wantErr(t, err, nil, "")
		wantErr(t, s.FinishCallRecord(ctx, id2, joined.Add(-time.Second), "bye", Quality{}), ErrInvalid, "before joined")
		wantErr(t, s.FinishCallRecord(ctx, id2, joined.Add(time.Second), "bye", Quality{}), nil, "")
	})

	t.Run("records are listed newest first, per conference or all, up to the limit", func(t *testing.T) {
		for i := range 3 {
			_, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: other.ID, CallID: "o", JoinedAt: joined.Add(time.Duration(i+1) * time.Hour)})
			wantErr(t, err, nil, "")
		}
		for _, tc := range []struct {
			conference int64
			limit      int
			want       int
		}{
			{conf.ID, 0, 2}, {other.ID, 0, 3}, {0, 0, 5}, {0, 2, 2}, {other.ID, 1, 1},
		} {
			rs, err := s.ListCallRecords(ctx, tc.conference, tc.limit)
			wantErr(t, err, nil, "")
			if len(rs) != tc.want {
				t.Fatalf("conference %d limit %d: %d records, want %d", tc.conference, tc.limit, len(rs), tc.want)
			}
			for i := 1; i < len(rs); i++ {
				if rs[i].JoinedAt.After(rs[i-1].JoinedAt) {
					t.Fatalf("conference %d: not newest first: %v after %v", tc.conference, rs[i].JoinedAt, rs[i-1].JoinedAt)
				}
			}
		}
	})

	t.Run("pruning removes finished records that left before the cutoff only", func(t *testing.T) {
		n, err := s.PruneCallRecords(ctx, joined.Add(time.Hour))
		wantErr(t, err, nil, "")
		if n != 2 {
			t.Fatalf("pruned %d, want 2", n)
		}
		rs, err := s.ListCallRecords(ctx, 0, 0)
		wantErr(t, err, nil, "")
		if len(rs) != 3 {
			t.Fatalf("%d records left, want the 3 still open", len(rs))
		}
	})
}

func TestCallRecordsClosedOnReopen(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := t.TempDir() + "/confab.db"
	s := openAt(t, path, WithClock(clock.Now))
	conf, err := s.CreateConference(ctx, NewConference("7001"))
	wantErr(t, err, nil, "")
	joined := clock.Now()
	open, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, CallID: "open", JoinedAt: joined})
	wantErr(t, err, nil, "")
	done, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, CallID: "done", JoinedAt: joined})
	wantErr(t, err, nil, "")
	wantErr(t, s.FinishCallRecord(ctx, done, joined.Add(time.Minute), "bye", Quality{}), nil, "")
	// The daemon dies without finishing "open"; it starts again later.
	s.Close()
	clock.Advance(time.Hour)
	s = openAt(t, path, WithClock(clock.Now))

	rs, err := s.ListCallRecords(ctx, conf.ID, 0)
	wantErr(t, err, nil, "")
	got := make(map[int64]CallRecord)
	for _, r := range rs {
		got[r.ID] = r
	}
	t.Run("the open record is closed at the restart", func(t *testing.T) {
		r := got[open]
		if !r.LeftAt.Equal(clock.Now()) || r.Reason != ReasonDaemonRestart {
			t.Fatalf("record = %+v, want left at %v for %q", r, clock.Now(), ReasonDaemonRestart)
		}
	})
	t.Run("the finished record is left alone", func(t *testing.T) {
		r := got[done]
		if !r.LeftAt.Equal(joined.Add(time.Minute)) || r.Reason != "bye" {
			t.Fatalf("record = %+v", r)
		}
	})
	t.Run("a clock behind the join time still leaves after joining", func(t *testing.T) {
		id, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, CallID: "future", JoinedAt: clock.Now().Add(time.Hour)})
		wantErr(t, err, nil, "")
		s.Close()
		s = openAt(t, path, WithClock(clock.Now))
		rs, err := s.ListCallRecords(ctx, conf.ID, 1)
		wantErr(t, err, nil, "")
		if len(rs) != 1 || rs[0].ID != id || !rs[0].LeftAt.Equal(rs[0].JoinedAt) {
			t.Fatalf("record = %+v", rs)
		}
	})
}

func TestCallRecordsLeaveTheWriterFullySynced(t *testing.T) {
	s, clock, path := openTest(t)
	ctx := context.Background()
	conf, err := s.CreateConference(ctx, NewConference("7001"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: conf.ID, ConferenceNumber: "7001", Participant: "sip:a@x", CallID: "c1", JoinedAt: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishCallRecord(ctx, id, clock.Now(), "bye", Quality{}); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Fatalf("after a call record the writer runs with synchronous=%d, want 2 (FULL)", mode)
	}
	// The record is in the database another process opens next.
	s2 := openAt(t, path)
	recs, err := s2.ListCallRecords(ctx, 0, 0)
	if err != nil || len(recs) != 1 || recs[0].Reason != "bye" {
		t.Fatalf("records seen by a second open: %+v, %v", recs, err)
	}
}
