package core

import "testing"

// BenchmarkDecide measures one decision on the default policy. The target for allow-user is
// under 300 ns with no allocation. About a third of the allow path is the store lookup, most
// of it the SHA-256 of the secret.
//
// NOTE: with go test -bench BenchmarkDecide -cpu 1, allow-user allocated nothing but took 340
// to 450 ns/op on a shared 2-vCPU AMD EPYC at load average 4 to 8. Whether it meets 300 ns on
// an idle core is not measured.
func BenchmarkDecide(b *testing.B) {
	f := newFixture(b, nil)
	cases := []struct {
		name string
		req  Request
		want Reason
	}{
		{"allow-user", Request{Method: "POST", Path: api("/search"), Headers: []Header{
			{"Content-Type", "application/json"},
			f.bearer(b, idUser),
		}}, ReasonOK},
		{"allow-global", Request{Method: "POST", Path: api("/search"), Headers: []Header{
			{"Content-Type", "application/json"},
			f.bearer(b, idGlobal),
			{HeaderScioActAs, "dana@example.com"},
		}}, ReasonOK},
		{"deny-unknown", Request{Method: "POST", Path: api("/search"), Headers: []Header{
			{"Content-Type", "application/json"},
			{HeaderAuthorization, "Bearer " + mintFixtureSecret(b, 200)},
		}}, ReasonUnknownToken},
		{"deny-missing", Request{Method: "POST", Path: api("/search"), Headers: []Header{
			{"Content-Type", "application/json"},
		}}, ReasonMissingToken},
		{"deny-scope", Request{Method: "POST", Path: api("/chat"), Headers: []Header{
			{"Content-Type", "application/json"},
			f.bearer(b, idUser),
		}}, ReasonScopeMissing},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if d := f.validator.Decide(c.req, fixtureNow); d.Reason != c.want {
				b.Fatalf("reason = %s, want %s", d.Reason, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				f.validator.Decide(c.req, fixtureNow)
			}
		})
	}
	// The first case again, with a credential cache that holds its credential.
	b.Run(cases[0].name+"-cached", func(b *testing.B) {
		cache := NewCredentialCache(0, 0)
		if d := f.validator.DecideCached(cases[0].req, fixtureNow, cache); d.Reason != cases[0].want {
			b.Fatalf("reason = %s, want %s", d.Reason, cases[0].want)
		}
		b.ReportAllocs()
		for b.Loop() {
			f.validator.DecideCached(cases[0].req, fixtureNow, cache)
		}
	})
}
