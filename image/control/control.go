// Package control is the appliance init's local API: status, confabd's
// output, software updates, network settings and reboot. The init serves
// it on a Unix socket that only root can open (Socket); confabd's web page
// reaches it through Proxy, behind the admin login, so the page's System
// section can show the box and upload updates without confabd itself
// writing to disks or the boot loader.
//
//	GET  /status          Status as JSON
//	GET  /log             confabd's recent output (text)
//	GET  /update          progress of the current or last update
//	POST /update          install the bundle in the body into the other slot
//	POST /reboot          reboot (into a freshly installed slot on trial)
//	GET  /network         network settings and state
//	PUT  /network         save settings (JSON); they apply at the next boot
//	POST /confabd/restart restart confabd
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"confab/image/bundle"
	"confab/image/netconf"
	"confab/image/supervise"
	"confab/image/update"
)

// Socket is where the init serves the API.
const Socket = "/run/confab/control.sock"

// maxBundle bounds an upload: two slots' worth of root, kernel and initrd.
const maxBundle = 256 << 20

// Status is the box's state.
type Status struct {
	Version string `json:"version"`
	// Arch and Built are the running system's (rootconf.Config).
	Arch  string    `json:"arch,omitempty"`
	Built time.Time `json:"built,omitzero"`
	Slot  string    `json:"slot"`
	Entry string    `json:"entry"`
	// Committed is false while a freshly updated slot is on trial.
	Committed      bool                  `json:"committed"`
	CommitDeadline time.Time             `json:"commit_deadline,omitzero"`
	Health         supervise.HealthState `json:"health"`
	Confabd        supervise.Status      `json:"confabd"`
	Network        netconf.State         `json:"network"`
	Watchdog       string                `json:"watchdog"`
	Update         update.Progress       `json:"update"`
	// RolledBack names an update that failed its trial and was left.
	RolledBack string    `json:"rolled_back,omitempty"`
	BootedAt   time.Time `json:"booted_at"`
}

// Box is what the API controls; the init implements it.
type Box interface {
	Status() Status
	Log() []byte
	Install(ctx context.Context, r io.Reader, p update.Policy) (update.Installed, error)
	Progress() update.Progress
	Reboot() error
	Network() (netconf.Config, netconf.State, error)
	SetNetwork(netconf.Config) error
	RestartConfabd()
}

// Handler serves the API for box.
func Handler(box Box, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "control")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, box.Status()) })
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(box.Log())
	})
	mux.HandleFunc("GET /update", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, box.Progress()) })
	mux.HandleFunc("POST /update", func(w http.ResponseWriter, r *http.Request) {
		body := http.MaxBytesReader(w, r.Body, maxBundle)
		p := update.Policy{AllowOlder: r.URL.Query().Get("allow_older") == "1"}
		res, err := box.Install(r.Context(), body, p)
		if err != nil {
			// The rest of a refused upload is read (up to maxBundle), so
			// that the client gets the answer, not a connection reset.
			_, _ = io.Copy(io.Discard, body)
			status, msg := updateError(err)
			log.Warn("update refused", "err", err)
			writeError(w, status, msg)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /reboot", func(w http.ResponseWriter, r *http.Request) {
		if err := box.Reboot(); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "rebooting"})
	})
	mux.HandleFunc("GET /network", func(w http.ResponseWriter, r *http.Request) {
		cfg, st, err := box.Network()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"config": cfg, "state": st})
	})
	mux.HandleFunc("PUT /network", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		cfg, err := netconf.Parse(data)
		if err == nil {
			err = box.SetNetwork(cfg)
		}
		if errors.Is(err, netconf.ErrInvalid) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"config": cfg, "applies": "at the next boot"})
	})
	mux.HandleFunc("POST /confabd/restart", func(w http.ResponseWriter, r *http.Request) {
		box.RestartConfabd()
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "restarting"})
	})
	return mux
}

// ErrOnTrial refuses an update while the running slot is itself on trial.
var ErrOnTrial = errors.New("control: the running system is on trial")

// updateError maps an install error to a status and a message for the
// admin.
func updateError(err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %d MiB; it is not a Confab update", maxBundle>>20)
	case errors.Is(err, update.ErrBusy):
		return http.StatusConflict, "another update is being installed; wait for it to finish"
	case errors.Is(err, bundle.ErrSignature):
		return http.StatusUnprocessableEntity, "the update is not signed by Confab's update key for this box; nothing was changed"
	case errors.Is(err, bundle.ErrFormat):
		return http.StatusUnprocessableEntity, "this file is not a Confab update bundle; nothing was changed"
	case errors.Is(err, bundle.ErrCorrupt):
		return http.StatusUnprocessableEntity, "the update is damaged (it does not match its signature); download it again. The running system was not changed"
	case errors.Is(err, update.ErrArch):
		return http.StatusUnprocessableEntity, detail(err, update.ErrArch) + "; nothing was changed"
	case errors.Is(err, update.ErrOlder):
		return http.StatusUnprocessableEntity, detail(err, update.ErrOlder) +
			". To go back to it deliberately, tick \"Allow an older version\" and upload it again; nothing was changed"
	case errors.Is(err, ErrOnTrial):
		return http.StatusConflict, "the running version is still on trial; wait until it is committed (or rolled back) before the next update"
	case errors.Is(err, update.ErrTooBig):
		return http.StatusUnprocessableEntity, "the update does not fit this box's system partition"
	}
	return http.StatusInternalServerError, "the update could not be installed: " + err.Error()
}

// detail is err's message after sentinel's: the part that names versions.
func detail(err, sentinel error) string {
	msg := err.Error()
	if i := strings.Index(msg, sentinel.Error()+": "); i >= 0 {
		msg = msg[i+len(sentinel.Error())+2:]
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// Listen opens the API's Unix socket at path, readable by root only.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return ln, nil
}
