# The tokengate allow rules written for OPA, as a team would deploy them behind Envoy's ext_authz
# filter. data.tokens maps the hex SHA-256 of each secret to its token record; data.exact and
# data.patterns map a method and path to the endpoint's scope. The request is in input.method,
# input.path and input.headers (lower-case names, each with the list of its values), and the
# instant in input.now_ns.
#
# Against core, the policy leaves out the path canonicalisation and the CRC-32 check of the
# token format, because Rego has no CRC-32 built-in. Both only make core do more work.
package tokengate

default decision := {"allow": false}

decision := {
	"allow": true,
	"token_id": token.id,
	"permission": token.permission,
	"principal": principal,
	"scope": endpoint.scope,
} if {
	active
	scope_allowed
}

# The credential of the one non-empty Authorization field with the Bearer scheme.
credential := c if {
	fields := [v | some raw in input.headers.authorization; v := trim(raw, " \t"); v != ""]
	count(fields) == 1
	lower(substring(fields[0], 0, 7)) == "bearer "
	c := trim(substring(fields[0], 7, -1), " \t")
	count(c) <= 4096
	regex.match(`^[A-Za-z0-9._~+/-]+=*$`, c)
}

# The digest is computed here rather than in Go, because the ext_authz request that a
# deployed policy receives carries the raw header, not a digest.
token := data.tokens[crypto.sha256(credential)]

active if {
	not revoked
	not expired
}

revoked if token.revoked_at_ns <= input.now_ns

expired if token.expires_at_ns <= input.now_ns

actas_values contains lower(v) if {
	some name in ["x-scio-actas", "x-glean-actas"]
	some raw in input.headers[name]
	v := trim(raw, " \t")
	v != ""
}

principal := address if {
	token.permission == "GLOBAL"
	count(actas_values) == 1
	some address in actas_values
	count(address) <= 254
	regex.match(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`, address)
	domain_allowed(address)
}

principal := token.user if {
	token.permission == "USER"
	count(actas_values) == 0
}

principal := "" if {
	token.permission == "ANONYMOUS"
	count(actas_values) == 0
}

domain_allowed(_) if count(object.get(token, "actas_domains", [])) == 0

domain_allowed(address) if {
	some domain in token.actas_domains
	endswith(address, concat("", ["@", domain]))
}

path := split(input.path, "?")[0]

endpoint := data.exact[input.method][path]

endpoint := e if {
	not data.exact[input.method][path]
	some e in data.patterns[input.method]
	glob.match(e.glob, ["/"], path)
}

scope_allowed if {
	endpoint.scope in token.scopes
	anonymous_allowed
}

anonymous_allowed if token.permission != "ANONYMOUS"

anonymous_allowed if endpoint.anonymous
