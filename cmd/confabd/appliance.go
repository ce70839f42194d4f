package main

import (
	"net/http"
	"os"

	"confab/focus/httpapi"
	"confab/image/control"
	"confab/web"
)

// controlSocket is where the appliance's init serves its control API
// (control.Socket); CONFAB_CONTROL_SOCKET moves it, for tests that run an
// init's API on a temporary directory.
func controlSocket() string {
	if s := os.Getenv("CONFAB_CONTROL_SOCKET"); s != "" {
		return s
	}
	return control.Socket
}

// applianceOption gives the web page's System section the control API:
// software updates, network settings and reboot. Off the image the socket
// does not exist and the page says the host's OS manages them.
func applianceOption(socket string) web.Option {
	return web.WithAppliance(control.NewClient(socket))
}

// withAppliance adds the appliance's system API under /api/v1/system/ in
// front of the web page: on the image, the init serves status, software
// updates, network settings and reboot on a Unix socket (package
// confab/image/control), and scripts reach it here behind the admin login
// and the cross-origin check. Off the image it answers 503 with a message.
func withAppliance(api *httpapi.API, page http.Handler, socket string) http.Handler {
	const prefix = "/api/v1/system"
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.NewCrossOriginProtection().Handler(api.Authenticate(control.Proxy(socket, prefix))))
	mux.Handle("/", page)
	return mux
}
