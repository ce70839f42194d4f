package web

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogRing keeps the last log records in memory for the System page: on an
// appliance nobody reads the console, and the disk is not for logs.
type LogRing struct {
	mu   sync.Mutex
	recs []LogRecord
	next int
	full bool
}

// LogRecord is one log line as the System page shows it.
type LogRecord struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   string // key=value pairs, as the text handler writes them
}

// NewLogRing returns a ring of the last n records.
func NewLogRing(n int) *LogRing { return &LogRing{recs: make([]LogRecord, max(n, 1))} }

func (l *LogRing) add(r LogRecord) {
	l.mu.Lock()
	l.recs[l.next] = r
	l.next = (l.next + 1) % len(l.recs)
	if l.next == 0 {
		l.full = true
	}
	l.mu.Unlock()
}

// Records returns the records kept, oldest first.
func (l *LogRing) Records() []LogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		return append([]LogRecord(nil), l.recs[:l.next]...)
	}
	return append(append([]LogRecord(nil), l.recs[l.next:]...), l.recs[:l.next]...)
}

// Handler returns a slog.Handler that keeps records of level and above in
// the ring and passes every record on to next.
func (l *LogRing) Handler(next slog.Handler, level slog.Leveler) slog.Handler {
	return &ringHandler{ring: l, next: next, level: level}
}

type ringHandler struct {
	ring   *LogRing
	next   slog.Handler
	level  slog.Leveler
	attrs  string // from WithAttrs, already formatted
	prefix string // from WithGroup: "group."
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= h.level.Level() {
		var b strings.Builder
		b.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.prefix, a)
			return true
		})
		h.ring.add(LogRecord{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: strings.TrimSpace(b.String())})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			appendAttr(b, prefix+a.Key+".", g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if strings.ContainsAny(v, " \"=") || v == "" {
		b.WriteString(`"` + strings.ReplaceAll(v, `"`, `\"`) + `"`)
	} else {
		b.WriteString(v)
	}
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		appendAttr(&b, h.prefix, a)
	}
	c := *h
	c.attrs = b.String()
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	c.next = h.next.WithGroup(name)
	return &c
}
