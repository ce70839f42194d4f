package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"confab/image/control"
	"confab/image/netconf"
	"confab/image/update"
)

// The System page's appliance part: software updates and network settings
// of the appliance image, through the init's control API (package
// confab/image/control). Off the image there is no such API and the page
// says that the host's OS manages both.

// Appliance is the appliance image's control API (control.Client).
type Appliance interface {
	Status(ctx context.Context) (control.Status, error)
	Install(ctx context.Context, bundle io.Reader, p update.Policy) (update.Installed, error)
	Reboot(ctx context.Context) error
	Network(ctx context.Context) (control.NetworkInfo, error)
	SetNetwork(ctx context.Context, cfg netconf.Config) error
}

// WithAppliance gives the System page the appliance image's control API
// (updates, network, reboot). Without it, or when the API reports
// control.ErrNotAppliance, the page says the host's OS manages them.
func WithAppliance(a Appliance) Option { return func(s *Server) { s.appliance = a } }

// maxUpload bounds the update form's body: the control API takes bundles
// up to 256 MiB; the rest is room for the form's other fields.
const maxUpload = 256<<20 + 1<<20

// applianceView is the appliance part of the System page.
type applianceView struct {
	// Managed is true on the image; HostOS explains why not otherwise.
	Managed bool
	// Unreachable is set when the control API exists but did not answer.
	Unreachable string
	Status      control.Status
	Network     control.NetworkInfo
	Net         networkForm
	NetFields   fieldErrors
	// UpdateNotice and UpdateError are the outcome of an upload.
	UpdateNotice, UpdateError string
	MaxUpload                 int64
}

// OtherSlot is the slot an update is written to.
func (a applianceView) OtherSlot() string {
	if a.Status.Slot == "a" {
		return "b"
	}
	return "a"
}

// networkForm is the network form as typed.
type networkForm struct {
	Hostname, Mode, Address, Gateway, DNS string
}

func formFromConfig(c netconf.Config) networkForm {
	f := networkForm{Hostname: c.Hostname, Mode: "dhcp"}
	if !c.DHCP {
		f.Mode = "static"
	}
	if s := c.Static; s != nil {
		f.Address = s.Address.String()
		if s.Gateway.IsValid() {
			f.Gateway = s.Gateway.String()
		}
		var dns []string
		for _, d := range s.DNS {
			dns = append(dns, d.String())
		}
		f.DNS = strings.Join(dns, ", ")
	}
	return f
}

// readNetworkForm turns the form into settings, starting from the stored
// ones (for what the form does not show); problems are keyed by field.
func readNetworkForm(r *http.Request, stored netconf.Config) (netconf.Config, networkForm, fieldErrors) {
	f := networkForm{Hostname: strings.TrimSpace(r.PostFormValue("hostname")), Mode: r.PostFormValue("mode"),
		Address: strings.TrimSpace(r.PostFormValue("address")), Gateway: strings.TrimSpace(r.PostFormValue("gateway")),
		DNS: strings.TrimSpace(r.PostFormValue("dns"))}
	fields := fieldErrors{}
	cfg := stored
	cfg.Hostname = f.Hostname
	switch f.Mode {
	case "dhcp":
		cfg.DHCP = true
	case "static":
		cfg.DHCP = false
	default:
		fields["mode"] = "Choose DHCP or a static address."
	}
	cfg.Static = nil
	if f.Address == "" {
		if f.Gateway != "" || f.DNS != "" {
			fields["address"] = "A gateway or DNS server needs a static address with them."
		}
	} else {
		st := &netconf.Static{}
		if p, err := netip.ParsePrefix(f.Address); err == nil {
			st.Address = p
		} else if a, err := netip.ParseAddr(f.Address); err == nil {
			fields["address"] = fmt.Sprintf("Add the network's prefix length, such as %s/24.", a)
		} else {
			fields["address"] = fmt.Sprintf("%q is not an IPv4 address with its prefix, such as 192.168.1.20/24.", f.Address)
		}
		if f.Gateway != "" {
			if a, err := netip.ParseAddr(f.Gateway); err == nil {
				st.Gateway = a
			} else {
				fields["gateway"] = fmt.Sprintf("%q is not an IP address.", f.Gateway)
			}
		}
		for _, d := range strings.FieldsFunc(f.DNS, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
			a, err := netip.ParseAddr(d)
			if err != nil {
				fields["dns"] = fmt.Sprintf("%q is not an IP address.", d)
				break
			}
			st.DNS = append(st.DNS, a)
		}
		cfg.Static = st
	}
	if len(fields) > 0 {
		return cfg, f, fields
	}
	for _, p := range cfg.Problems() {
		field := p.Field
		if field == "dhcp_timeout" {
			field = "mode"
		}
		if _, taken := fields[field]; !taken {
			fields[field] = sentence(p.Message)
		}
	}
	return cfg, f, fields
}

// applianceState asks the control API for the page. ctx bounds it.
func (s *Server) applianceState(ctx context.Context) applianceView {
	v := applianceView{MaxUpload: maxUpload - 1<<20, NetFields: fieldErrors{}}
	if s.appliance == nil {
		return v
	}
	st, err := s.appliance.Status(ctx)
	if errors.Is(err, control.ErrNotAppliance) {
		return v
	}
	v.Managed = true
	if err != nil {
		v.Unreachable = sentence(err.Error())
		return v
	}
	v.Status = st
	if v.Network, err = s.appliance.Network(ctx); err != nil {
		v.Unreachable = sentence(err.Error())
		return v
	}
	v.Net = formFromConfig(v.Network.Config)
	return v
}

// wantsJSON reports whether the page's script sent the form (it asks for
// JSON to show the outcome in place).
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// updateUpload is POST /system/update: a multipart form with the bundle
// (field "bundle") and the "allow_older" box, which must come before it.
// The bundle streams on to the control API, which verifies it as it writes
// it into the other slot.
func (s *Server) updateUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	status, notice, msg := s.installUpload(r)
	if status != http.StatusRequestEntityTooLarge {
		// The rest of a refused upload is read (at most maxUpload), so
		// that the browser gets the answer rather than a connection
		// closed in mid-upload.
		_, _ = io.Copy(io.Discard, r.Body)
	}
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		res := map[string]string{"message": notice}
		if msg != "" {
			res = map[string]string{"error": msg}
		}
		_ = json.NewEncoder(w).Encode(res)
		return
	}
	s.renderSystem(w, r, status, systemOutcome{updateNotice: notice, updateError: msg})
}

func (s *Server) installUpload(r *http.Request) (status int, notice, msg string) {
	if s.appliance == nil {
		return http.StatusNotFound, "", hostManaged
	}
	tooBig := fmt.Sprintf("The file is larger than %d MiB; it is not a Confab update.", (maxUpload-1<<20)>>20)
	if r.ContentLength > maxUpload {
		return http.StatusRequestEntityTooLarge, "", tooBig
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return http.StatusBadRequest, "", "Choose the update file (confab-VERSION.update) to upload."
	}
	var p update.Policy
	for {
		part, err := mr.NextPart()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, "", tooBig
		}
		if err != nil {
			return http.StatusBadRequest, "", "Choose the update file (confab-VERSION.update) to upload."
		}
		switch part.FormName() {
		case "allow_older":
			v, _ := io.ReadAll(io.LimitReader(part, 16))
			p.AllowOlder = string(v) == "1" || string(v) == "on"
			continue
		case "bundle":
		default:
			continue
		}
		if part.FileName() == "" {
			return http.StatusBadRequest, "", "Choose the update file (confab-VERSION.update) to upload."
		}
		res, err := s.appliance.Install(r.Context(), part, p)
		var ce *control.Error
		switch {
		case errors.Is(err, control.ErrNotAppliance):
			return http.StatusNotFound, "", hostManaged
		case errors.As(err, &mbe):
			return http.StatusRequestEntityTooLarge, "", tooBig
		case errors.As(err, &ce):
			return ce.Status, "", sentence(ce.Message)
		case err != nil:
			s.log.Error("update upload", "err", err)
			return http.StatusBadGateway, "", sentence(err.Error())
		}
		s.log.Info("update installed from the System page", "version", res.Version, "slot", res.Slot)
		return http.StatusOK, fmt.Sprintf("Version %s was verified and written to slot %s. Reboot to try it: if it is not healthy, the box returns to the running version by itself.",
			res.Version, strings.ToUpper(res.Slot)), ""
	}
}

// hostManaged is what the page says off the appliance image.
const hostManaged = "This confabd does not run on the Confab appliance image: the host's operating system manages software updates and the network."

// reboot is POST /system/reboot.
func (s *Server) reboot(w http.ResponseWriter, r *http.Request) {
	if s.appliance == nil {
		s.renderSystem(w, r, http.StatusNotFound, systemOutcome{err: hostManaged})
		return
	}
	if err := s.appliance.Reboot(r.Context()); errors.Is(err, control.ErrNotAppliance) {
		s.renderSystem(w, r, http.StatusNotFound, systemOutcome{err: hostManaged})
		return
	} else if err != nil {
		s.renderSystem(w, r, http.StatusBadGateway, systemOutcome{err: sentence(err.Error())})
		return
	}
	s.log.Warn("reboot requested on the System page")
	s.render(w, r, http.StatusAccepted, "rebooting", view{Title: "Restarting", Nav: "system", LoggedIn: true})
}

// networkSave is POST /system/network.
func (s *Server) networkSave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if s.appliance == nil {
		s.renderSystem(w, r, http.StatusNotFound, systemOutcome{err: hostManaged})
		return
	}
	info, err := s.appliance.Network(ctx)
	if errors.Is(err, control.ErrNotAppliance) {
		s.renderSystem(w, r, http.StatusNotFound, systemOutcome{err: hostManaged})
		return
	}
	if err != nil {
		s.renderSystem(w, r, http.StatusBadGateway, systemOutcome{err: sentence(err.Error())})
		return
	}
	cfg, form, fields := readNetworkForm(r, info.Config)
	if len(fields) > 0 {
		s.renderSystem(w, r, http.StatusBadRequest, systemOutcome{net: &form, netFields: fields,
			err: "The network settings were not saved: see the marked fields."})
		return
	}
	if err := s.appliance.SetNetwork(ctx, cfg); err != nil {
		s.renderSystem(w, r, http.StatusBadRequest, systemOutcome{net: &form, netFields: fieldErrors{},
			err: "The network settings were not saved: " + sentence(err.Error())})
		return
	}
	s.log.Info("network settings saved on the System page", "hostname", cfg.Hostname, "dhcp", cfg.DHCP)
	redirect(w, r, "/system", "network")
}
