package bridgeproc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Counters reads the daemon's /metrics (Prometheus text format) and
// returns its unlabelled samples whose names start with prefix, such as
// confab_mixer_late_ticks_total: the bridge's own view of how it keeps
// time, beside what the generator sees.
func (b *Bridge) Counters(ctx context.Context, prefix string) (map[string]float64, error) {
	return b.Metrics().Counters(ctx, prefix)
}

// MetricsSource says where a daemon's /metrics is and how to log in, so
// that another process (a generator in another network namespace) can
// read its counters.
type MetricsSource struct {
	HTTP     string // host:port
	Password string // the admin's
}

// Metrics is where this daemon's /metrics is.
func (b *Bridge) Metrics() MetricsSource { return MetricsSource{HTTP: b.http, Password: b.password} }

// Counters reads the samples of the daemon's /metrics, as Bridge.Counters.
func (m MetricsSource) Counters(ctx context.Context, prefix string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.HTTP+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("bridgeproc: %w", err)
	}
	req.SetBasicAuth("admin", m.Password)
	res, err := metricsClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bridgeproc: metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: metrics: %s", ErrAPI, res.Status)
	}
	return parseMetrics(res.Body, prefix)
}

var metricsClient = &http.Client{Timeout: 30 * time.Second}

// parseMetrics reads the unlabelled samples of the text exposition format.
func parseMetrics(r io.Reader, prefix string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			continue
		}
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // an optional timestamp follows
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		out[name] = v
	}
	return out, sc.Err()
}
