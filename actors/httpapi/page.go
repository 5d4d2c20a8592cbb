package httpapi

import (
	_ "embed"
	"net/http"
)

// page is the status page: plain HTML and a small script that reads the API every two
// seconds; nothing is fetched from anywhere else. With a token, open it once as
// /#token=<token>: the script keeps the token for the tab (sessionStorage) and sends it.
//
//go:embed page.html
var page []byte

func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Only this page's own script and the API: the page shows names clients chose.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, _ = w.Write(page)
}
