package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tokengate/tokengate/core"
)

// Config is the plugin configuration, the JSON document the host hands to OnPluginStart.
// Unknown fields are rejected, so a misspelt option fails the start instead of being ignored.
type Config struct {
	// Bundle is the output of `tokengate bundle`: either the bundle's JSON object, kept byte
	// for byte, or a JSON string that contains it. Use the string form wherever the host may
	// re-encode the configuration (Istio's pluginConfig does), because the bundle's digest
	// covers the exact bytes of its content.
	Bundle json.RawMessage `json:"bundle"`
	// Shadow forwards every request, denied or not, and reports the decision upstream in
	// X-Tokengate-Shadow-Reason.
	Shadow bool `json:"shadow,omitempty"`
	// StripCredential removes Authorization from forwarded requests even when the bundle's
	// policy does not ask for it. It cannot turn off a policy's strip_credential.
	StripCredential bool `json:"strip_credential,omitempty"`
}

// EncodeConfig returns the plugin configuration for a bundle, with the bundle in string form.
func EncodeConfig(bundle []byte, shadow, stripCredential bool) ([]byte, error) {
	quoted, err := json.Marshal(string(bundle))
	if err != nil {
		return nil, fmt.Errorf("encode plugin configuration: %w", err)
	}
	return json.Marshal(Config{Bundle: quoted, Shadow: shadow, StripCredential: stripCredential})
}

// settings is a validated configuration. It is never modified after loadSettings returns, so
// every HTTP context created while it is current can keep a pointer to it.
type settings struct {
	validator *core.Validator
	info      core.BundleInfo
	realm     string
	shadow    bool
	strip     bool
}

// loadSettings decodes and validates a plugin configuration. On error it returns no settings.
func loadSettings(data []byte) (*settings, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New(`the plugin configuration is empty: set it to JSON with a "bundle" member holding the output of tokengate bundle`)
	}
	var c Config
	if err := decodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("the plugin configuration is not valid: %w: want JSON with bundle, shadow and strip_credential", err)
	}
	bundle, err := bundleBytes(c.Bundle)
	if err != nil {
		return nil, err
	}
	v, info, err := core.DecodeBundle(bundle)
	if err != nil {
		return nil, fmt.Errorf("the plugin configuration's bundle is not valid: %w", err)
	}
	return &settings{
		validator: v,
		info:      info,
		realm:     v.Policy().Realm(),
		shadow:    c.Shadow,
		strip:     c.StripCredential || v.Policy().StripCredential(),
	}, nil
}

// bundleBytes returns the bundle held by the configuration's bundle member.
func bundleBytes(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return nil, errors.New(`the plugin configuration has no "bundle": set it to the output of tokengate bundle`)
	case raw[0] == '{':
		return raw, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf(`the plugin configuration's "bundle" string is not valid JSON: %w`, err)
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf(`the plugin configuration's "bundle" is a JSON %s: want the bundle object or a string holding it`, jsonKind(raw[0]))
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch {
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	default:
		return "number"
	}
}

// decodeStrict decodes JSON into v, rejecting unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}
