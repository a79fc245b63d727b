package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGateway_Denial measures one denied request through ServeHTTP, without a network:
// building the core request, deciding, and writing the denial.
func BenchmarkGateway_Denial(b *testing.B) {
	for _, name := range testEngines() {
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, name)
			benchmarkRequest(b, f, "/rest/api/v1/chat", http.StatusForbidden)
		})
	}
}

// BenchmarkGateway_AuthzAllowed measures one allowed authz request through ServeHTTP.
func BenchmarkGateway_AuthzAllowed(b *testing.B) {
	for _, name := range testEngines() {
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, name)
			benchmarkRequest(b, f, AuthzPath, http.StatusOK)
		})
	}
}

func benchmarkRequest(b *testing.B, f *fixture, target string, status int) {
	req := httptest.NewRequest("POST", target, nil)
	req.Header.Set("Authorization", "Bearer "+userSecret)
	req.Header.Set("X-Original-Method", "POST")
	req.Header.Set("X-Original-URI", "/rest/api/v1/search")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		f.gw.ServeHTTP(w, req)
		if w.Code != status {
			b.Fatalf("status = %d, want %d", w.Code, status)
		}
	}
}
