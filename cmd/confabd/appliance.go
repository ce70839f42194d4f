package main

import (
	"net/http"

	"confab/focus/httpapi"
	"confab/image/control"
)

// withAppliance adds the appliance's system API under /api/v1/system/ in
// front of the web page: on the image, the init serves status, software
// updates, network settings and reboot on a Unix socket (package
// confab/image/control), and the page and scripts reach it here behind
// the admin login and the cross-origin check. Off the image it answers 503
// with a message.
func withAppliance(api *httpapi.API, page http.Handler) http.Handler {
	const prefix = "/api/v1/system"
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.NewCrossOriginProtection().Handler(api.Authenticate(control.Proxy(control.Socket, prefix))))
	mux.Handle("/", page)
	return mux
}
