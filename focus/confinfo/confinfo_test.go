package confinfo

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const focusURI = "sip:alice@confab.example;gruu;opaque=app:conf:focus:id:K7Q2M9XA"

var joined = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// fullState is a conference with its organizer and one muted attendee.
func fullState() *Document {
	return &Document{
		Entity:  focusURI,
		State:   Full,
		Version: 1,
		Description: &Description{
			DisplayText:  "Weekly sync",
			Subject:      "Budget & plans",
			ConfURIs:     []URI{{URI: "sip:7001@confab.example", DisplayText: "dial-in number", Purpose: "participation"}},
			MaxUserCount: Ptr(uint32(50)),
			AvailableMedia: []AvailableMedia{
				{Label: "audio", DisplayText: "audio", Type: "audio", Status: "sendrecv"},
			},
		},
		ConfState: &ConferenceState{UserCount: Ptr(uint32(2)), Active: Ptr(true), Locked: Ptr(false)},
		Users: &Users{State: Full, Users: []User{
			{
				Entity: "sip:alice@confab.example", DisplayText: "Alice", Roles: []string{"presenter", "organizer"},
				Endpoints: []Endpoint{{
					Entity: "sip:alice@confab.example;member=1", DisplayText: "Alice", Status: "connected",
					JoiningMethod: "dialed-in", JoiningInfo: &ExecInfo{When: joined},
					Media:    []Media{{ID: "1", Type: "audio", Label: "audio", Status: "sendrecv", IngressFilter: FilterUnblock, EgressFilter: FilterUnblock}},
					CallInfo: &SIPDialog{CallID: "a84b4c76e66710", FromTag: "1928301774", ToTag: "314159"},
				}},
			},
			{
				Entity: "sip:bob@confab.example", DisplayText: "Bob <the tester>", Roles: []string{"attendee"},
				Endpoints: []Endpoint{{
					Entity: "sip:bob@confab.example;member=2", Status: "muted-via-focus",
					JoiningMethod: "dialed-out", JoiningInfo: &ExecInfo{When: joined.Add(time.Minute), By: "sip:alice@confab.example"},
					Media: []Media{{ID: "1", Type: "audio", Label: "audio", Status: "sendrecv", IngressFilter: FilterBlock, EgressFilter: FilterUnblock}},
				}},
			},
		}},
	}
}

// laterState is fullState after Bob left, Carol joined and the conference
// was locked.
func laterState() *Document {
	d := fullState()
	d.Version = 2
	d.ConfState.Locked = Ptr(true)
	d.Users.Users = d.Users.Users[:1]
	d.Users.Users = append(d.Users.Users, User{
		Entity: "sip:carol@confab.example", DisplayText: "Carol", Roles: []string{"attendee"},
		Endpoints: []Endpoint{{
			Entity: "sip:carol@confab.example;member=3", Status: "connected", JoiningMethod: "dialed-in",
			Media: []Media{{ID: "1", Type: "audio", Label: "audio", Status: "sendrecv", IngressFilter: FilterUnblock, EgressFilter: FilterUnblock}},
		}},
	})
	return d
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what Marshal writes:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	partial := Diff(fullState(), laterState())
	partial.Version = 2
	tests := []struct {
		name string
		file string
		doc  *Document
	}{
		{"a full document lists every user, endpoint and medium", "full.xml", fullState()},
		{"a partial document carries only the changes", "partial.xml", partial},
		{"an empty conference has no users", "empty.xml", &Document{Entity: focusURI, State: Full, Version: 1,
			ConfState: &ConferenceState{UserCount: Ptr(uint32(0)), Active: Ptr(false), Locked: Ptr(false)},
			Users:     &Users{State: Full}}},
		{"the Microsoft scheduling extensions use the msci prefix", "scheduling.xml", &Document{
			Description: &Description{Subject: "Planning", ConferenceID: "K7Q2M9XA", AdmissionPolicy: "openAuthenticated",
				ExpiryTime: Ptr(time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC))},
			ConfState: &ConferenceState{Locked: Ptr(false)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.doc.Marshal()
			golden(t, tt.file, b)
			back, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal of what Marshal wrote: %v", err)
			}
			if !reflect.DeepEqual(back, tt.doc) {
				t.Errorf("round trip changed the document:\n got %+v\nwant %+v", back, tt.doc)
			}
		})
	}
}

func TestDiffAndApply(t *testing.T) {
	t.Run("applying the diff of two states to the first gives the second", func(t *testing.T) {
		p := Diff(fullState(), laterState())
		p.Version = 2
		// Through the wire, as a subscriber gets it.
		wire, err := Unmarshal(p.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		got, err := Apply(fullState(), wire)
		if err != nil {
			t.Fatal(err)
		}
		if want := laterState(); !reflect.DeepEqual(got, want) {
			t.Errorf("Apply:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("the diff names a departed user as deleted and a changed one in full", func(t *testing.T) {
		p := Diff(fullState(), laterState())
		if p.Users == nil || len(p.Users.Users) != 2 {
			t.Fatalf("users in the diff = %+v, want carol in full and bob deleted", p.Users)
		}
		if u := p.User("sip:carol@confab.example"); u == nil || u.State != Full {
			t.Errorf("carol = %+v, want state full", u)
		}
		if u := p.User("sip:bob@confab.example"); u == nil || u.State != Deleted || len(u.Endpoints) != 0 {
			t.Errorf("bob = %+v, want state deleted with nothing else", u)
		}
		if p.ConfState == nil || p.ConfState.Locked == nil || !*p.ConfState.Locked || p.ConfState.Active != nil {
			t.Errorf("conference state = %+v, want only locked=true", p.ConfState)
		}
		if p.Description != nil {
			t.Errorf("the unchanged description was sent: %+v", p.Description)
		}
	})
	t.Run("two equal states have no diff", func(t *testing.T) {
		if p := Diff(fullState(), fullState()); p != nil {
			t.Errorf("Diff = %+v, want nil", p)
		}
	})
	t.Run("a muted endpoint shows as a changed user", func(t *testing.T) {
		now := fullState()
		now.Users.Users[0].Endpoints[0].Media[0].IngressFilter = FilterBlock
		p := Diff(fullState(), now)
		if p == nil || p.Users == nil || len(p.Users.Users) != 1 || p.Users.Users[0].Entity != "sip:alice@confab.example" {
			t.Fatalf("Diff = %+v, want alice alone", p)
		}
	})

	errCases := []struct {
		name string
		have *Document
		doc  *Document
		want error
	}{
		{"a partial document that skips a version is a gap", fullState(),
			&Document{Entity: focusURI, State: Partial, Version: 3}, ErrVersionGap},
		{"a repeated version is stale", fullState(),
			&Document{Entity: focusURI, State: Partial, Version: 1}, ErrStale},
		{"a partial document before any full one cannot apply", nil,
			&Document{Entity: focusURI, State: Partial, Version: 1}, ErrNotFull},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Apply(tt.have, tt.doc); !errors.Is(err, tt.want) {
				t.Errorf("Apply error = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("a full document replaces whatever is held", func(t *testing.T) {
		d := laterState()
		d.Version = 9
		got, err := Apply(fullState(), d)
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Errorf("Apply = %+v, %v; want the new full document", got, err)
		}
	})
}

func TestUnmarshalRejects(t *testing.T) {
	deep := strings.Repeat("<users>", 10000) + strings.Repeat("</users>", 10000)
	many := `<conference-info xmlns="` + Namespace + `" entity="x"><users>` +
		strings.Repeat(`<user entity="u"/>`, maxElements) + `</users></conference-info>`
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"a document over the size limit is too large", `<conference-info xmlns="` + Namespace + `" entity="x">` +
			strings.Repeat(" ", MaxDocumentSize) + `</conference-info>`, ErrTooLarge},
		{"deep nesting is too large", `<conference-info xmlns="` + Namespace + `">` + deep + `</conference-info>`, ErrTooLarge},
		{"too many elements is too large", many, ErrTooLarge},
		{"an entity declaration is refused", `<!DOCTYPE x [<!ENTITY a "aaaa">]><conference-info xmlns="` + Namespace + `"/>`, ErrMalformed},
		{"a document in another namespace is malformed", `<conference-info xmlns="urn:example" entity="x"/>`, ErrMalformed},
		{"an unknown state is malformed", `<conference-info xmlns="` + Namespace + `" entity="x" state="half"/>`, ErrMalformed},
		{"a negative version is malformed", `<conference-info xmlns="` + Namespace + `" entity="x" version="-1"/>`, ErrMalformed},
		{"a boolean that is not one is malformed", `<conference-info xmlns="` + Namespace + `" entity="x">` +
			`<conference-state><locked>maybe</locked></conference-state></conference-info>`, ErrMalformed},
		{"an unclosed document is malformed", `<conference-info xmlns="` + Namespace + `" entity="x">`, ErrMalformed},
		{"text that is not XML is malformed", `hello`, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Unmarshal([]byte(tt.doc)); !errors.Is(err, tt.want) {
				t.Errorf("Unmarshal error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnmarshalIgnoresOtherNamespaces(t *testing.T) {
	doc := `<conference-info xmlns="` + Namespace + `" xmlns:x="urn:example" entity="e" state="full" version="4">
  <x:users><x:user entity="not-a-user"/></x:users>
  <conference-state><x:locked>true</x:locked><active>1</active></conference-state>
</conference-info>`
	d, err := Unmarshal([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{Entity: "e", State: Full, Version: 4, ConfState: &ConferenceState{Active: Ptr(true)}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Unmarshal = %+v, want %+v", d, want)
	}
}

// FuzzUnmarshal feeds the decoder arbitrary documents: it must not panic,
// and what it accepts must survive Marshal and Unmarshal unchanged once
// normalised.
func FuzzUnmarshal(f *testing.F) {
	for _, name := range []string{"full.xml", "partial.xml", "empty.xml", "scheduling.xml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<conference-info xmlns="` + Namespace + `" entity="x"><users><user><endpoint><media id="1"/></endpoint></user></users></conference-info>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		once := d.Marshal()
		d2, err := Unmarshal(once)
		if err != nil {
			t.Fatalf("Unmarshal of Marshal output: %v\n%s", err, once)
		}
		if twice := d2.Marshal(); !bytes.Equal(once, twice) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", once, twice)
		}
	})
}
