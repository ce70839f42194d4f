package control

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
)

// Proxy forwards requests under prefix (e.g. "/api/v1/system") to the init's
// API on the Unix socket, without the prefix. Mount it behind the admin
// login. Off the appliance (no socket), it answers 503 with a message.
func Proxy(socket, prefix string) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "init"
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, prefix)
			if pr.Out.URL.Path == "" {
				pr.Out.URL.Path = "/"
			}
			pr.Out.URL.RawPath = ""
			pr.Out.Host = "init"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusServiceUnavailable, "the appliance's system service is not reachable (is this an appliance image?)")
		},
	}
	return rp
}
