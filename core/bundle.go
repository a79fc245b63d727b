package core

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// BundleFormatVersion is the bundle format this package writes and reads.
const BundleFormatVersion = 1

// bundleDigestPrefix names the hash in a bundle digest.
const bundleDigestPrefix = "sha256:"

// BundleInfo describes a decoded bundle.
type BundleInfo struct {
	// Format is the bundle format version.
	Format int `json:"format"`
	// Digest is "sha256:" and the hex SHA-256 of the bundle's content member.
	Digest string `json:"digest"`
	// Tokens and Endpoints count the store's tokens and the policy's endpoints.
	Tokens    int `json:"tokens"`
	Endpoints int `json:"endpoints"`
}

// bundleFile is the JSON layout of a bundle. The digest covers the bytes of Content exactly as
// they stand in the file, so checking it needs no canonical re-encoding.
type bundleFile struct {
	Format  int             `json:"format"`
	Digest  string          `json:"digest"`
	Content json.RawMessage `json:"content"`
}

type bundleContent struct {
	Policy PolicySpec `json:"policy"`
	Tokens []Token    `json:"tokens"`
}

// EncodeBundle returns the bundle of a policy and a store: JSON with the format version, the
// content (policy spec and token records, never a secret) and the content's digest.
func EncodeBundle(policy *Policy, store *Store) ([]byte, error) {
	tokens := store.tokens
	if tokens == nil {
		tokens = []Token{}
	}
	content, err := json.Marshal(bundleContent{Policy: policy.spec, Tokens: tokens})
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	sum := sha256.Sum256(content)
	return json.Marshal(bundleFile{
		Format:  BundleFormatVersion,
		Digest:  bundleDigestPrefix + hex.EncodeToString(sum[:]),
		Content: content,
	})
}

// DecodeBundle checks a bundle's format version and digest, validates its policy and store,
// and returns a validator for them. It rejects another format version, a digest mismatch, a
// truncated or malformed file and any invalid policy or token; on error nothing is returned.
func DecodeBundle(data []byte) (*Validator, BundleInfo, error) {
	f, spec, store, fast := parseBundleFast(data)
	if !fast {
		f = bundleFile{}
		if err := decodeStrict(data, &f); err != nil {
			return nil, BundleInfo{}, fmt.Errorf("bundle: %w", err)
		}
	}
	if f.Format != BundleFormatVersion {
		return nil, BundleInfo{}, fmt.Errorf("bundle: format version %d is not supported: this build reads version %d; rebuild the bundle with the same tokengate version", f.Format, BundleFormatVersion)
	}
	if len(f.Content) == 0 {
		return nil, BundleInfo{}, fmt.Errorf("bundle: missing content")
	}
	sum := sha256.Sum256(f.Content)
	digest := bundleDigestPrefix + hex.EncodeToString(sum[:])
	if f.Digest != digest {
		return nil, BundleInfo{}, fmt.Errorf("bundle: digest %q does not match the content (%s): the bundle was altered or damaged", f.Digest, digest)
	}
	var c bundleContent
	if !fast {
		if err := decodeStrict(f.Content, &c); err != nil {
			return nil, BundleInfo{}, fmt.Errorf("bundle: content: %w", err)
		}
		spec = c.Policy
	}
	policy, err := NewPolicy(spec)
	if err != nil {
		return nil, BundleInfo{}, fmt.Errorf("bundle: policy: %w", err)
	}
	if !fast {
		if store, err = newStoreOwning(c.Tokens); err != nil {
			return nil, BundleInfo{}, fmt.Errorf("bundle: store: %w", err)
		}
	}
	info := BundleInfo{Format: f.Format, Digest: digest, Tokens: store.Len(), Endpoints: policy.Endpoints()}
	return NewValidator(policy, store), info, nil
}
