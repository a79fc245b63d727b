package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tokengate/tokengate/core"
)

// jwtClaims are the claims of a JWT that replaces a tokengate token: the user in sub, plus the
// permission, the scopes and the expiry.
type jwtClaims struct {
	jwt.RegisteredClaims
	Permission string   `json:"permission"`
	Scopes     []string `json:"scopes"`
}

// JWT verifies signed JWTs with github.com/golang-jwt/jwt/v5 and then checks the endpoint's
// scope, which is what a team running Envoy's jwt_authn filter in place of tokengate deploys.
type JWT struct {
	// Token is the signed JWT for the fixture's token, to send as the bearer credential.
	Token string

	policy *core.Policy
	parser *jwt.Parser
	key    any
}

// NewJWT signs a JWT with the claims of the fixture's token, using "HS256" (a random 32-byte
// key) or "ES256" (a random P-256 key). The verifier reads the time from clock.
func NewJWT(method string, f *Fixture, clock func() time.Time) (*JWT, error) {
	var (
		signing jwt.SigningMethod
		signKey any
		verify  any
	)
	switch method {
	case "HS256":
		secret := sha256.Sum256([]byte(rand.Text()))
		signing, signKey, verify = jwt.SigningMethodHS256, secret[:], secret[:]
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jwt: generate P-256 key: %w", err)
		}
		signing, signKey, verify = jwt.SigningMethodES256, priv, &priv.PublicKey
	default:
		return nil, fmt.Errorf("jwt: signing method %q: want HS256 or ES256", method)
	}
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   f.Token.User,
			ExpiresAt: jwt.NewNumericDate(f.Token.ExpiresAt),
		},
		Permission: f.Token.Permission.String(),
		Scopes:     scopeStrings(f.Token.Scopes),
	}
	signed, err := jwt.NewWithClaims(signing, claims).SignedString(signKey)
	if err != nil {
		return nil, fmt.Errorf("jwt: sign: %w", err)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{method}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(clock),
	)
	return &JWT{Token: signed, policy: f.Policy, parser: parser, key: verify}, nil
}

// Decide reads the one bearer credential of req, verifies it as a JWT and allows the request
// when the token's scopes contain the scope of the endpoint it calls.
func (j *JWT) Decide(req core.Request) (PeerDecision, error) {
	credential, err := bearerCredential(req.Headers)
	if err != nil {
		return PeerDecision{}, err
	}
	var claims jwtClaims
	if _, err := j.parser.ParseWithClaims(credential, &claims, j.keyFunc); err != nil {
		return PeerDecision{}, err
	}
	path, _, _ := strings.Cut(req.Path, "?")
	endpoint, ok := j.policy.Match(req.Method, path)
	if !ok {
		return PeerDecision{}, nil
	}
	if claims.Permission == "ANONYMOUS" && !endpoint.Anonymous {
		return PeerDecision{}, nil
	}
	scope := endpoint.Scope.String()
	if !slices.Contains(claims.Scopes, scope) {
		return PeerDecision{}, nil
	}
	return PeerDecision{Allow: true, Principal: claims.Subject, Scope: scope}, nil
}

func (j *JWT) keyFunc(*jwt.Token) (any, error) { return j.key, nil }

// errNoBearer rejects a request without exactly one Authorization field of the Bearer scheme.
var errNoBearer = errors.New("jwt: expected exactly one Authorization field with a Bearer credential")

// bearerCredential returns the credential of the one Authorization field with the Bearer scheme.
func bearerCredential(headers []core.Header) (string, error) {
	credential := ""
	found := 0
	for _, h := range headers {
		if !strings.EqualFold(h.Name, core.HeaderAuthorization) {
			continue
		}
		found++
		scheme, rest, ok := strings.Cut(strings.TrimSpace(h.Value), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", errNoBearer
		}
		credential = strings.TrimSpace(rest)
	}
	if found != 1 || credential == "" {
		return "", errNoBearer
	}
	return credential, nil
}

func scopeStrings(set core.ScopeSet) []string {
	var names []string
	for _, s := range set.Scopes() {
		names = append(names, s.String())
	}
	return names
}
