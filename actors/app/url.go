package app

import (
	"net/url"
	"strings"
	"unique"
)

// SplitURL derives the application path and query from a connection URL
// ("rtmfp://host:port/app/inst?k=v") or a bare path ("app/inst", as librtmfp sends in
// its EPD). The path has no leading or trailing slash; "" is the root application.
func SplitURL(raw string) (path string, query url.Values) {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		query, _ = url.ParseQuery(raw[i+1:])
		raw = raw[:i]
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		raw = raw[i+3:]
		if j := strings.IndexByte(raw, '/'); j >= 0 {
			raw = raw[j+1:]
		} else {
			raw = ""
		}
	}
	// Interned: a substring would keep the whole URL of every client alive.
	return unique.Make(strings.Trim(raw, "/")).Value(), query
}
