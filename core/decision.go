package core

import (
	"encoding/json"
	"fmt"
)

// Decision is the outcome of one request.
type Decision struct {
	// Allow is true exactly when Status is 200: the request goes upstream.
	Allow bool
	// Status is the HTTP status: 200, 400, 401, 403 or 503.
	Status int
	// Reason is the stable code of the check that decided.
	Reason Reason
	// Error is the RFC 6750 error code of a denial, empty for an allow.
	Error string
	// TokenID and Permission describe the token from the token check on; empty before it.
	TokenID    string
	Permission Permission
	// Principal is the user the request acts as, for ReasonOK: the lowercased act-as address
	// of a GLOBAL token, the user of a USER token, empty for ANONYMOUS.
	Principal string
	// Scope is the endpoint's scope, for ReasonOK and ReasonScopeMissing.
	Scope Scope
}

// newDecision returns the decision for reason with Status, Allow and Error filled in.
func newDecision(r Reason) Decision {
	return Decision{Allow: r.Allow(), Status: r.Status(), Reason: r, Error: r.ErrorCode()}
}

// NotConfigured returns the 503 decision of an engine without a valid configuration.
func NotConfigured() Decision { return newDecision(ReasonNotConfigured) }

// decisionJSON is the wire form of a decision; empty fields are omitted.
type decisionJSON struct {
	Allow      bool   `json:"allow"`
	Status     int    `json:"status"`
	Reason     string `json:"reason"`
	Error      string `json:"error,omitempty"`
	TokenID    string `json:"token_id,omitempty"`
	Permission string `json:"permission,omitempty"`
	Principal  string `json:"principal,omitempty"`
	Scope      string `json:"scope,omitempty"`
}

// MarshalJSON encodes the decision with its reason, permission and scope as names.
func (d Decision) MarshalJSON() ([]byte, error) {
	if !d.Reason.Valid() {
		return nil, fmt.Errorf("decision has invalid reason %d", uint8(d.Reason))
	}
	return json.Marshal(decisionJSON{
		Allow:      d.Allow,
		Status:     d.Status,
		Reason:     d.Reason.String(),
		Error:      d.Error,
		TokenID:    d.TokenID,
		Permission: d.Permission.String(),
		Principal:  d.Principal,
		Scope:      d.Scope.String(),
	})
}

// UnmarshalJSON decodes the wire form of a decision.
func (d *Decision) UnmarshalJSON(data []byte) error {
	var v decisionJSON
	if err := decodeStrict(data, &v); err != nil {
		return fmt.Errorf("decision: %w", err)
	}
	out := Decision{Allow: v.Allow, Status: v.Status, Error: v.Error, TokenID: v.TokenID, Principal: v.Principal}
	var err error
	if out.Reason, err = ParseReason(v.Reason); err != nil {
		return fmt.Errorf("decision: %w", err)
	}
	if v.Permission != "" {
		if out.Permission, err = ParsePermission(v.Permission); err != nil {
			return fmt.Errorf("decision: %w", err)
		}
	}
	if v.Scope != "" {
		if out.Scope, err = ParseScope(v.Scope); err != nil {
			return fmt.Errorf("decision: %w", err)
		}
	}
	*d = out
	return nil
}

// Fields returns the decision as the field map that conformance files compare against:
// allow (bool), status (int), and the other fields as strings, empty when absent.
func (d Decision) Fields() map[string]any {
	return map[string]any{
		"allow":      d.Allow,
		"status":     d.Status,
		"reason":     d.Reason.String(),
		"error":      d.Error,
		"token_id":   d.TokenID,
		"permission": d.Permission.String(),
		"principal":  d.Principal,
		"scope":      d.Scope.String(),
	}
}
