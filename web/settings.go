package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"confab/hal"
)

// SettingsKey is where the Settings are kept in the conferencing
// database's settings table, as one JSON object: one atomic write.
const SettingsKey = "confab.settings"

// Codecs are the codec names the Settings take, best audio first.
var Codecs = []string{"opus", "G722", "PCMU", "PCMA", "L16"}

// Settings are the appliance settings the page edits. confabd reads them
// at start, so each takes effect on the next restart; a setting given on
// the command line or in the environment wins over the stored one.
type Settings struct {
	// SIP is the address SIP listens on, UDP and TCP: IP:PORT.
	SIP string `json:"sip"`
	// RTPLow and RTPHigh bound the media ports; each call takes two.
	RTPLow  int `json:"rtp_low"`
	RTPHigh int `json:"rtp_high"`
	// PublicIP is the address written into SDP and Contact; "" means the
	// address of the interface with the default route.
	PublicIP string `json:"public_ip"`
	// Codecs is the codec preference, a subset of Codecs in order.
	Codecs []string `json:"codecs"`
	// MixRate is the highest rate mixed at: 8000, 16000 or 48000 Hz.
	MixRate int `json:"mix_rate"`
	// FrameMs is the mixing interval: 10, 20 or 40 ms.
	FrameMs int `json:"frame_ms"`
	// TalkThreshold is the mean amplitude above which a caller counts as
	// talking (1-32767; 160 suits desk phones).
	TalkThreshold int `json:"talk_threshold"`
}

// DefaultSettings are the product's defaults.
func DefaultSettings() Settings {
	return Settings{SIP: "0.0.0.0:5060", RTPLow: 20000, RTPHigh: 29999, Codecs: []string{"opus", "G722", "PCMU", "PCMA", "L16"},
		MixRate: 48000, FrameMs: 20, TalkThreshold: 160}
}

// Validate returns what is wrong, by field (the JSON names), or nil.
func (s Settings) Validate() fieldErrors {
	f := fieldErrors{}
	if ap, err := netip.ParseAddrPort(s.SIP); err != nil || ap.Port() == 0 {
		f["sip"] = "Enter an address and port, such as 0.0.0.0:5060 (all interfaces) or 192.168.1.10:5060."
	}
	switch {
	case s.RTPLow < 1024 || s.RTPLow > 65535 || s.RTPHigh < 1024 || s.RTPHigh > 65535:
		f["rtp_ports"] = "Use ports from 1024 to 65535."
	case s.RTPHigh-s.RTPLow < 3:
		f["rtp_ports"] = "The range needs at least 4 ports (each call takes two)."
	}
	if s.PublicIP != "" {
		if _, err := netip.ParseAddr(s.PublicIP); err != nil {
			f["public_ip"] = "Enter an IP address, or leave empty to use this box's own."
		}
	}
	if len(s.Codecs) == 0 {
		f["codecs"] = "Name at least one codec."
	}
	for i, c := range s.Codecs {
		if !slices.Contains(Codecs, c) {
			f["codecs"] = fmt.Sprintf("%q is not a codec Confab has; use %s.", c, strings.Join(Codecs, ", "))
			break
		}
		if slices.Contains(s.Codecs[:i], c) {
			f["codecs"] = fmt.Sprintf("%s is listed twice.", c)
			break
		}
	}
	switch s.MixRate {
	case 8000, 16000, 48000:
	default:
		f["mix_rate"] = "Choose 8000, 16000 or 48000 Hz."
	}
	switch s.FrameMs {
	case 10, 20, 40:
	default:
		f["frame_ms"] = "Choose 10, 20 or 40 ms."
	}
	if s.TalkThreshold < 1 || s.TalkThreshold > 32767 {
		f["talk_threshold"] = "Enter a number from 1 to 32767."
	}
	if len(f) == 0 {
		return nil
	}
	return f
}

// LoadSettings returns the stored settings over the defaults. Stored
// settings that do not decode or validate are an error, not silently
// replaced: the page wrote them, so something is wrong.
func LoadSettings(ctx context.Context, r interface {
	GetSetting(ctx context.Context, key string) (string, bool, error)
}) (Settings, error) {
	s := DefaultSettings()
	raw, ok, err := r.GetSetting(ctx, SettingsKey)
	if err != nil || !ok {
		return s, err
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return DefaultSettings(), fmt.Errorf("stored settings: %w", err)
	}
	if f := s.Validate(); f != nil {
		return DefaultSettings(), fmt.Errorf("stored settings are not valid: %v", f)
	}
	return s, nil
}

type settingsView struct {
	InUse   Settings
	Saved   Settings
	Form    settingsForm
	Pinned  map[string]bool
	Fields  fieldErrors
	Pending bool // saved differs from in use: a restart is due
	Path    string
	Reason  string
	Domain  string
	HAL     []hal.DriverStatus
}

// settingsForm is the Settings as typed.
type settingsForm struct {
	SIP, RTPPorts, PublicIP, Codecs, MixRate, FrameMs, TalkThreshold string
}

func formOfSettings(s Settings) settingsForm {
	return settingsForm{SIP: s.SIP, RTPPorts: fmt.Sprintf("%d-%d", s.RTPLow, s.RTPHigh), PublicIP: s.PublicIP,
		Codecs: strings.Join(s.Codecs, ", "), MixRate: strconv.Itoa(s.MixRate), FrameMs: strconv.Itoa(s.FrameMs),
		TalkThreshold: strconv.Itoa(s.TalkThreshold)}
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, status int, v settingsView, msg string) {
	saved, err := LoadSettings(r.Context(), s.d.Records)
	if err != nil && msg == "" {
		msg = err.Error()
	}
	v.Saved, v.InUse, v.Pinned, v.Domain = saved, s.d.Runtime.InUse, s.d.Runtime.Pinned, s.d.Runtime.Domain
	if v.Fields == nil {
		v.Form = formOfSettings(saved)
	}
	v.Pending = pending(saved, s.d.Runtime.InUse, v.Pinned)
	st := s.d.Engine.Stats()
	v.Path, v.Reason = st.PathName, st.PathReason
	if s.d.Runtime.HAL != nil {
		v.HAL = s.d.Runtime.HAL()
	}
	s.render(w, r, status, "settings", view{Title: "Settings", Nav: "settings", LoggedIn: true, Data: v, Error: msg})
}

// pending reports whether the saved settings would change anything at the
// next start: settings the command line pins do not count, nor an empty
// public address (which means "this box's own", the one in use).
func pending(saved, inUse Settings, pinned map[string]bool) bool {
	if pinned["sip"] {
		saved.SIP = inUse.SIP
	}
	if pinned["rtp_ports"] {
		saved.RTPLow, saved.RTPHigh = inUse.RTPLow, inUse.RTPHigh
	}
	if pinned["public_ip"] || saved.PublicIP == "" {
		saved.PublicIP = inUse.PublicIP
	}
	a, _ := json.Marshal(saved)
	b, _ := json.Marshal(inUse)
	return !bytes.Equal(a, b)
}

func (s *Server) settings(w http.ResponseWriter, r *http.Request) {
	s.renderSettings(w, r, http.StatusOK, settingsView{}, "")
}

func (s *Server) settingsSave(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	form := settingsForm{SIP: f("sip"), RTPPorts: f("rtp_ports"), PublicIP: f("public_ip"), Codecs: f("codecs"),
		MixRate: f("mix_rate"), FrameMs: f("frame_ms"), TalkThreshold: f("talk_threshold")}
	var set Settings
	fields := fieldErrors{}
	set.SIP, set.PublicIP = form.SIP, form.PublicIP
	lo, hi, ok := strings.Cut(form.RTPPorts, "-")
	var err1, err2 error
	set.RTPLow, err1 = strconv.Atoi(strings.TrimSpace(lo))
	set.RTPHigh, err2 = strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil {
		fields["rtp_ports"] = "Enter the range as LOW-HIGH, such as 20000-29999."
	}
	for c := range strings.FieldsFuncSeq(form.Codecs, func(r rune) bool { return r == ',' || r == ' ' }) {
		// Names are matched as people type them: "g722" is G722.
		for _, known := range Codecs {
			if strings.EqualFold(c, known) {
				c = known
			}
		}
		set.Codecs = append(set.Codecs, c)
	}
	num := func(field, value string, dst *int) {
		n, err := strconv.Atoi(value)
		if err != nil {
			fields[field] = "Enter a number."
			return
		}
		*dst = n
	}
	num("mix_rate", form.MixRate, &set.MixRate)
	num("frame_ms", form.FrameMs, &set.FrameMs)
	num("talk_threshold", form.TalkThreshold, &set.TalkThreshold)
	for k, v := range set.Validate() {
		if _, ok := fields[k]; !ok {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		s.renderSettings(w, r, http.StatusBadRequest, settingsView{Form: form, Fields: fields}, "")
		return
	}
	b, err := json.Marshal(set)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.d.Records.SetSetting(r.Context(), SettingsKey, string(b)); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("settings saved; they apply at the next start", "settings", string(b))
	redirect(w, r, "/settings", "settings")
}
