package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"confab/focus/store"
)

// maxBackup bounds an uploaded backup: a box with a thousand conferences,
// phones and trunks writes well under a megabyte.
const maxBackup = 8 << 20

// callRecordsShown is how many call records the System page lists; the
// CSV export has them all.
const callRecordsShown = 50

type systemView struct {
	Version   string
	StartedAt time.Time
	Uptime    time.Duration
	Host      hostStats
	Logs      []LogRecord
	Calls     []store.CallRecord
	DataDir   string
	// Box is the appliance image's part: updates and network.
	Box applianceView
}

// systemOutcome is what a form post on the System page has to show.
type systemOutcome struct {
	err                       string // for the whole page
	updateNotice, updateError string // beside the update form
	net                       *networkForm
	netFields                 fieldErrors
}

// hostStats is what the System page says of the machine.
type hostStats struct {
	Cores              int
	Load1, Load5       string // from /proc/loadavg
	CPUTime            time.Duration
	CPUPercent         float64 // of one core, over the daemon's life
	RSS                uint64  // resident memory of confabd
	GoHeap             uint64
	MemTotal, MemAvail uint64 // of the machine, from /proc/meminfo
	Goroutines         int
}

func readHostStats(uptime time.Duration) hostStats {
	h := hostStats{Cores: runtime.NumCPU(), Goroutines: runtime.NumGoroutine()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		h.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if uptime > 0 {
			h.CPUPercent = 100 * float64(h.CPUTime) / float64(uptime)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.GoHeap = ms.HeapAlloc
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			h.Load1, h.Load5 = f[0], f[1]
		}
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			h.RSS = pages * uint64(os.Getpagesize())
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "MemTotal":
				h.MemTotal = kb << 10
			case "MemAvailable":
				h.MemAvail = kb << 10
			}
		}
		f.Close()
	}
	return h
}

func (s *Server) system(w http.ResponseWriter, r *http.Request) {
	s.renderSystem(w, r, http.StatusOK, systemOutcome{})
}

func (s *Server) renderSystem(w http.ResponseWriter, r *http.Request, status int, out systemOutcome) {
	calls, err := s.d.Records.ListCallRecords(r.Context(), 0, callRecordsShown)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	up := s.clock().Sub(s.d.Runtime.StartedAt)
	logs := s.d.Logs.Records()
	slices.Reverse(logs) // newest first
	v := systemView{Version: s.d.Runtime.Version, StartedAt: s.d.Runtime.StartedAt, Uptime: up,
		Host: readHostStats(up), Logs: logs, Calls: calls, DataDir: s.d.Runtime.DataDir}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	v.Box = s.applianceState(ctx)
	cancel()
	v.Box.UpdateNotice, v.Box.UpdateError = out.updateNotice, out.updateError
	if !v.Box.Managed && out.err == "" {
		out.err = out.updateError // there is no update form to show it beside
	}
	if out.net != nil {
		v.Box.Net, v.Box.NetFields = *out.net, out.netFields
	}
	s.render(w, r, status, "system", view{Title: "System", Nav: "system", LoggedIn: true, Data: v, Error: out.err})
}

// backupDownload sends the configuration as a JSON file (the page's link
// and GET /api/v1/backup).
func (s *Server) backupDownload(w http.ResponseWriter, r *http.Request) {
	b, err := s.d.Records.Backup(r.Context())
	if err != nil {
		s.log.Error("backup", "err", err)
		http.Error(w, "the backup could not be made: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition",
		fmt.Sprintf(`attachment; filename="confab-backup-%s.json"`, b.CreatedAt.Format("2006-01-02-150405")))
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(b)
}

// errConferencesActive refuses a restore while people are in conferences:
// their conferences might vanish or change number under them.
var errConferencesActive = errors.New("conferences are in progress; end them (or wait until they end) and restore again")

// decodeBackup reads a backup strictly: unknown fields, trailing data and
// oversized files are refused with a message saying which.
func decodeBackup(r io.Reader) (store.Backup, error) {
	var b store.Backup
	dec := json.NewDecoder(io.LimitReader(r, maxBackup+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return b, fmt.Errorf("the file is larger than %d MiB; it is not a Confab backup", maxBackup>>20)
		}
		if errors.Is(err, io.EOF) {
			return b, errors.New("the file is empty")
		}
		return b, fmt.Errorf("this is not a Confab backup file: %v", err)
	}
	if dec.More() {
		return b, errors.New("this is not a Confab backup file: there is data after the backup")
	}
	if err := b.Validate(); err != nil {
		return b, fmt.Errorf("the backup was not restored: %s", userMessage(err))
	}
	return b, nil
}

// restore checks and applies a backup; the store applies it in one
// transaction, so a failure changes nothing.
func (s *Server) restore(r *http.Request, rd io.Reader) (store.Backup, error) {
	b, err := decodeBackup(rd)
	if err != nil {
		return b, err
	}
	if cards, _, err := s.activeCards(r); err != nil {
		return b, err
	} else if len(cards) > 0 {
		return b, errConferencesActive
	}
	if err := s.d.Records.Restore(r.Context(), b); err != nil {
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrDuplicate) {
			return b, fmt.Errorf("the backup was not restored: %s", userMessage(err))
		}
		return b, err
	}
	s.log.Info("configuration restored from a backup", "made", b.CreatedAt, "conferences", len(b.Conferences),
		"phones", len(b.Users), "trunks", len(b.Trunks))
	return b, nil
}

func (s *Server) restoreUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBackup+64<<10)
	f, _, err := r.FormFile("backup")
	if err != nil {
		var tooBig *http.MaxBytesError
		msg := "Choose the backup file to restore."
		if errors.As(err, &tooBig) {
			msg = fmt.Sprintf("The file is larger than %d MiB; it is not a Confab backup.", maxBackup>>20)
		}
		s.renderSystem(w, r, http.StatusBadRequest, systemOutcome{err: msg})
		return
	}
	defer f.Close()
	if _, err := s.restore(r, f); err != nil {
		s.renderSystem(w, r, http.StatusBadRequest, systemOutcome{err: err.Error()})
		return
	}
	redirect(w, r, "/system", "restored")
}

// restoreAPI is POST /api/v1/restore with the backup as the JSON body.
func (s *Server) restoreAPI(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBackup)
	b, err := s.restore(r, r.Body)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errConferencesActive) {
			status = http.StatusConflict
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"restored": true, "conferences": len(b.Conferences),
		"phones": len(b.Users), "trunks": len(b.Trunks)})
}

// callsCSV exports every call record.
func (s *Server) callsCSV(w http.ResponseWriter, r *http.Request) {
	recs, err := s.d.Records.ListCallRecords(r.Context(), 0, 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="confab-calls-%s.csv"`,
		s.clock().Format("2006-01-02")))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"conference", "participant", "role", "codec", "joined_at", "left_at", "seconds", "reason",
		"packets_received", "packets_lost", "jitter_ms", "mos", "call_id"})
	for _, c := range recs {
		left, secs := "", ""
		if !c.LeftAt.IsZero() {
			left = c.LeftAt.Format(time.RFC3339)
			secs = strconv.FormatInt(int64(c.LeftAt.Sub(c.JoinedAt).Seconds()), 10)
		}
		_ = cw.Write([]string{c.ConferenceNumber, csvSafe(c.Participant), c.Role, c.Codec, c.JoinedAt.Format(time.RFC3339),
			left, secs, csvSafe(c.Reason), strconv.FormatInt(c.Quality.PacketsReceived, 10),
			strconv.FormatInt(c.Quality.PacketsLost, 10), strconv.FormatFloat(c.Quality.JitterMs, 'f', 1, 64),
			strconv.FormatFloat(c.Quality.MOS, 'f', 2, 64), csvSafe(c.CallID)})
	}
	cw.Flush()
}

// csvSafe keeps a caller's display name from becoming a formula when the
// export is opened in a spreadsheet (OWASP "CSV injection").
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
