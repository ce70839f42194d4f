package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strings"
	"time"
)

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string // the menu entry to highlight
	LoggedIn bool
	Notice   string // a line of good news after a redirect
	Error    string // what went wrong, for the whole page
	Data     any
}

// notices are the messages a redirect can ask for with ?done=KEY; only
// these can appear, so a link cannot make the page say anything else.
var notices = map[string]string{
	"created":   "Saved.",
	"saved":     "Saved.",
	"deleted":   "Deleted.",
	"restored":  "The backup was restored.",
	"password":  "The password was changed. Every other login session has ended.",
	"settings":  "Saved. The new settings take effect when confabd restarts.",
	"command":   "Done.",
	"loggedout": "You have logged out.",
	"network":   "Saved. The network settings apply at the next boot.",
}

var funcs = template.FuncMap{
	"since": func(t time.Time) string { return humanDuration(time.Since(t)) },
	"duration": func(d time.Duration) string {
		return humanDuration(d)
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"ms": func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) },
	"pct": func(f float64) string {
		if math.IsNaN(f) {
			return "—"
		}
		return fmt.Sprintf("%.1f", f)
	},
	"mos": func(f float64) string {
		if f <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f", f)
	},
	// quality grades a MOS the way the page colours it: good from 4.0
	// (toll quality), fair from 3.6, poor below (ITU-T G.107 Annex B).
	"quality": func(f float64) string {
		switch {
		case f <= 0:
			return "unknown"
		case f >= 4.0:
			return "good"
		case f >= 3.6:
			return "fair"
		}
		return "poor"
	},
	"bytes": humanBytes,
	"bytes64": func(n int64) string {
		return humanBytes(uint64(max(n, 0)))
	},
	"upper": strings.ToUpper,
	"join":  strings.Join,
	"list":  func(xs ...int) []int { return xs },
	"cmd": func(conf int64, member, command, label, class, confirm string) cmdButton {
		return cmdButton{Conf: conf, Member: member, Command: command, Label: label, Class: class, Confirm: confirm}
	},
}

// cmdButton is one conference command button on the dashboard: a form of
// its own, so that it works without JavaScript.
type cmdButton struct {
	Conf                                   int64
	Member, Command, Label, Class, Confirm string
}

func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// parseTemplates parses every page once, each with the layout and the
// shared fragments, and the fragments alone for the live updates.
func parseTemplates() (map[string]*template.Template, *template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/fragments.html")
	if err != nil {
		return nil, nil, fmt.Errorf("web: templates: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, nil, err
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		file := path.Base(name)
		if file == "layout.html" || file == "fragments.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, name)
		if err != nil {
			return nil, nil, fmt.Errorf("web: template %s: %w", file, err)
		}
		pages[strings.TrimSuffix(file, ".html")] = t
	}
	return pages, template.Must(base.Clone()), nil
}

// render writes page with status; the page is rendered into a buffer first
// so that a template error becomes a 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	t, ok := s.pages[page]
	if !ok {
		http.Error(w, "no such page template: "+page, http.StatusInternalServerError)
		return
	}
	if v.Notice == "" {
		v.Notice = notices[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		s.log.Error("rendering page", "page", page, "err", err)
		http.Error(w, "the page could not be shown: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page for an error the admin did not cause.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "error", view{Title: "Something went wrong", LoggedIn: true,
		Error: err.Error()})
}

// redirect sends the browser on after a POST (303, so it GETs).
func redirect(w http.ResponseWriter, r *http.Request, to, done string) {
	if done != "" {
		to += "?done=" + done
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
