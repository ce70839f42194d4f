package store

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestTrunkValidate(t *testing.T) {
	valid := Trunk{
		Name:              "Carrier",
		Peers:             []string{"192.0.2.10", "198.51.100.0/24", "2001:db8::/32", "sbc.carrier.example"},
		Username:          "confab-in",
		Password:          "in-secret",
		OutboundRegistrar: "sip:registrar.carrier.example",
		OutboundUsername:  "+493012345",
		OutboundPassword:  "out-secret",
		OutboundExpiry:    10 * time.Minute,
		DIDs:              []DID{{Number: "+493012345", Conference: "7001"}, {Number: "493012346"}},
	}
	for _, tc := range []struct {
		name   string
		change func(tr *Trunk)
		msg    string
	}{
		{"a full trunk is valid", func(tr *Trunk) {}, ""},
		{"a trunk with only a name is valid", func(tr *Trunk) { *tr = Trunk{Name: "pbx"} }, ""},
		{"a missing name is invalid", func(tr *Trunk) { tr.Name = " " }, "trunk name is required"},
		{"a peer that is no address or host is invalid", func(tr *Trunk) { tr.Peers = []string{"not a host"} },
			`peer "not a host" must be an IP address, a CIDR prefix or a host name`},
		{"a bad prefix is invalid", func(tr *Trunk) { tr.Peers = []string{"10.0.0.0/33"} }, "not a valid CIDR prefix"},
		{"a host label starting with a hyphen is invalid", func(tr *Trunk) { tr.Peers = []string{"-a.example"} }, "host name"},
		{"an address with a zone is invalid", func(tr *Trunk) { tr.Peers = []string{"fe80::1%eth0"} }, "zone"},
		{"the same peer twice is invalid", func(tr *Trunk) { tr.Peers = []string{"10.0.0.1/24", "10.0.0.0/24"} }, "listed twice"},
		{"a password without a username is invalid", func(tr *Trunk) { tr.Username = "" }, "username is required with a password"},
		{"a username without a password is invalid", func(tr *Trunk) { tr.Password = "" }, "password is required with a username"},
		{"a registrar that is not a SIP URI is invalid", func(tr *Trunk) { tr.OutboundRegistrar = "registrar.example" },
			"outbound registrar must be a sip: or sips: URI"},
		{"a registrar without a username is invalid", func(tr *Trunk) { tr.OutboundUsername = "" }, "outbound username is required"},
		{"a registrar without a password is invalid", func(tr *Trunk) { tr.OutboundPassword = "" }, "outbound password is required"},
		{"outbound settings without a registrar are invalid", func(tr *Trunk) { tr.OutboundRegistrar = "" }, "need an outbound registrar"},
		{"an expiry of ten seconds is invalid", func(tr *Trunk) { tr.OutboundExpiry = 10 * time.Second }, "between 1 minute and 24 hours"},
		{"an expiry in fractions of a second is invalid", func(tr *Trunk) { tr.OutboundExpiry = time.Minute + time.Millisecond }, "whole seconds"},
		{"a DID with letters is invalid", func(tr *Trunk) { tr.DIDs = []DID{{Number: "49ABC"}} }, "must be an optional + and 1-20 digits"},
		{"a DID routed to a bad number is invalid", func(tr *Trunk) { tr.DIDs = []DID{{Number: "1", Conference: "7"}} }, "2-15 digits"},
		{"the same DID twice is invalid", func(tr *Trunk) { tr.DIDs = []DID{{Number: "1"}, {Number: "1", Conference: "7001"}} }, "did 1 is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := valid
			tc.change(&tr)
			err := tr.Validate()
			if tc.msg == "" {
				wantErr(t, err, nil, "")
				return
			}
			wantErr(t, err, ErrInvalid, tc.msg)
		})
	}
}

func TestTrunks(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := openTest(t)
	for _, n := range []string{"7001", "7002"} {
		_, err := s.CreateConference(ctx, NewConference(n))
		wantErr(t, err, nil, "")
	}
	in := Trunk{
		Name:              "Carrier",
		Peers:             []string{"::ffff:192.0.2.10", "198.51.100.77/24", "SBC.Carrier.example."},
		Username:          "confab-in",
		Password:          "in-secret",
		OutboundRegistrar: "sip:registrar.carrier.example",
		OutboundUsername:  "+493012345",
		OutboundPassword:  "out-secret",
		OutboundExpiry:    10 * time.Minute,
		DIDs:              []DID{{Number: "+493012346"}, {Number: "+493012345", Conference: "7001"}},
	}
	var carrier Trunk

	t.Run("a created trunk comes back in canonical form", func(t *testing.T) {
		var err error
		carrier, err = s.CreateTrunk(ctx, in)
		wantErr(t, err, nil, "")
		want := in
		want.ID, want.CreatedAt, want.UpdatedAt = carrier.ID, clock.Now(), clock.Now()
		want.Peers = []string{"192.0.2.10", "198.51.100.0/24", "sbc.carrier.example"}
		want.DIDs = []DID{{Number: "+493012345", Conference: "7001"}, {Number: "+493012346"}}
		if !reflect.DeepEqual(carrier, want) {
			t.Fatalf("created %+v\nwant %+v", carrier, want)
		}
		for name, read := range map[string]func() (Trunk, error){
			"by id":               func() (Trunk, error) { return s.GetTrunk(ctx, carrier.ID) },
			"by name in any case": func() (Trunk, error) { return s.TrunkByName(ctx, "CARRIER") },
		} {
			got, err := read()
			wantErr(t, err, nil, "")
			if !reflect.DeepEqual(got, carrier) {
				t.Fatalf("read %s: %+v", name, got)
			}
		}
	})

	for _, tc := range []struct {
		name   string
		trunk  Trunk
		target error
		msg    string
	}{
		{"a name already taken in another case is a duplicate", Trunk{Name: "carrier"}, ErrDuplicate, `trunk name "carrier"`},
		{"an inbound username already taken is a duplicate", Trunk{Name: "other", Username: "confab-in", Password: "x"},
			ErrDuplicate, `trunk username "confab-in"`},
		{"a DID routed to a conference that does not exist is invalid",
			Trunk{Name: "other", DIDs: []DID{{Number: "1", Conference: "9999"}}}, ErrInvalid, "there is no conference 9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateTrunk(ctx, tc.trunk)
			wantErr(t, err, tc.target, tc.msg)
			ts, err := s.ListTrunks(ctx)
			wantErr(t, err, nil, "")
			if len(ts) != 1 {
				t.Fatalf("%d trunks stored, want 1", len(ts))
			}
		})
	}

	t.Run("DIDs resolve to their conference or to asking", func(t *testing.T) {
		for _, tc := range []struct {
			did, want string
			target    error
		}{
			{"+493012345", "7001", nil},
			{"+493012346", "", nil},
			{"+499999", "", ErrNotFound},
		} {
			got, err := s.ConferenceForDID(ctx, carrier.ID, tc.did)
			wantErr(t, err, tc.target, "")
			if got != tc.want {
				t.Errorf("DID %s routes to %q, want %q", tc.did, got, tc.want)
			}
		}
		_, err := s.ConferenceForDID(ctx, carrier.ID+1, "+493012345")
		wantErr(t, err, ErrNotFound, "")
	})

	t.Run("a renumbered conference keeps its DIDs", func(t *testing.T) {
		c, err := s.ConferenceByNumber(ctx, "7001")
		wantErr(t, err, nil, "")
		c.Number = "7101"
		_, err = s.UpdateConference(ctx, c)
		wantErr(t, err, nil, "")
		got, err := s.ConferenceForDID(ctx, carrier.ID, "+493012345")
		wantErr(t, err, nil, "")
		if got != "7101" {
			t.Fatalf("DID routes to %q, want 7101", got)
		}
	})

	t.Run("an update replaces fields and DIDs", func(t *testing.T) {
		clock.Advance(time.Minute)
		up := carrier
		up.Name, up.Peers, up.Username, up.Password = "Carrier B", []string{"203.0.113.0/28"}, "", ""
		up.OutboundRegistrar, up.OutboundUsername, up.OutboundPassword, up.OutboundExpiry = "", "", "", 0
		up.DIDs = []DID{{Number: "100", Conference: "7002"}}
		got, err := s.UpdateTrunk(ctx, up)
		wantErr(t, err, nil, "")
		up.UpdatedAt = clock.Now()
		if !reflect.DeepEqual(got, up) {
			t.Fatalf("updated %+v\nwant %+v", got, up)
		}
		_, err = s.ConferenceForDID(ctx, carrier.ID, "+493012345")
		wantErr(t, err, ErrNotFound, "")
		carrier = got
	})

	t.Run("updating an unknown trunk is not found", func(t *testing.T) {
		_, err := s.UpdateTrunk(ctx, Trunk{ID: carrier.ID + 10, Name: "ghost"})
		wantErr(t, err, ErrNotFound, "")
	})

	t.Run("a deleted trunk and its DIDs are gone", func(t *testing.T) {
		wantErr(t, s.DeleteTrunk(ctx, carrier.ID), nil, "")
		_, err := s.GetTrunk(ctx, carrier.ID)
		wantErr(t, err, ErrNotFound, "")
		_, err = s.ConferenceForDID(ctx, carrier.ID, "100")
		wantErr(t, err, ErrNotFound, "")
		wantErr(t, s.DeleteTrunk(ctx, carrier.ID), ErrNotFound, "")
	})
}

func TestTrunkForAddress(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	ids := make(map[string]int64)
	for _, tr := range []Trunk{
		{Name: "wide", Peers: []string{"10.0.0.0/8", "2001:db8::/32"}},
		{Name: "narrow", Peers: []string{"10.1.0.0/16"}},
		{Name: "exact", Peers: []string{"10.1.2.3", "sbc.example"}},
		{Name: "a-twin", Peers: []string{"10.1.0.0/16"}}, // listed first by name, created last
	} {
		created, err := s.CreateTrunk(ctx, tr)
		wantErr(t, err, nil, "")
		ids[tr.Name] = created.ID
	}
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"an exact address beats every prefix", "10.1.2.3", "exact"},
		{"a longer prefix beats a shorter one", "10.1.9.9", "narrow"},
		{"of two equal prefixes the older trunk wins", "10.1.200.1", "narrow"},
		{"a wide prefix catches the rest", "10.200.0.1", "wide"},
		{"an IPv4-mapped address matches its IPv4 peer", "::ffff:10.1.2.3", "exact"},
		{"an IPv6 address matches an IPv6 prefix", "2001:db8::5", "wide"},
		{"an address no trunk has is not found", "192.0.2.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TrunkForAddress(ctx, netip.MustParseAddr(tc.addr))
			if tc.want == "" {
				wantErr(t, err, ErrNotFound, "")
				return
			}
			wantErr(t, err, nil, "")
			if got.ID != ids[tc.want] {
				t.Fatalf("matched trunk %q, want %q", got.Name, tc.want)
			}
		})
	}
}
