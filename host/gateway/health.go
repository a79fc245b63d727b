package gateway

import (
	"net/http"
	"time"
)

// health is the JSON body of the health endpoint.
type health struct {
	Status       string `json:"status"`
	Engine       string `json:"engine,omitempty"`
	BundleDigest string `json:"bundle_digest,omitempty"`
	Tokens       int    `json:"tokens"`
	Endpoints    int    `json:"endpoints"`
	LoadedAt     string `json:"loaded_at,omitempty"`
}

// serveHealth responds 200 with the bundle digest and engine in force, or 503 while no
// configuration is loaded.
func (g *Gateway) serveHealth(w http.ResponseWriter, _ *http.Request) {
	v := g.acquire()
	defer v.release()
	if v == nil {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "not_configured"})
		return
	}
	writeJSON(w, http.StatusOK, health{
		Status:       "ok",
		Engine:       v.engineName,
		BundleDigest: v.info.Digest,
		Tokens:       v.info.Tokens,
		Endpoints:    v.info.Endpoints,
		LoadedAt:     v.loadedAt.UTC().Format(time.RFC3339Nano),
	})
}
