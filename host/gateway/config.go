package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tokengate/tokengate/host/engine"
)

// Defaults of the settings that a flag or the config file leaves unset.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultPolicy         = "scopes.yaml"
	DefaultEngine         = "extism"
	DefaultModules        = "build"
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMockListen     = "127.0.0.1:0"
)

// Limits of Config.MaxHeaderBytes. Below the minimum, ordinary browser requests would be
// rejected; above the maximum, one connection could hold a large buffer for a header block.
const (
	MinMaxHeaderBytes = 4 << 10
	MaxMaxHeaderBytes = 16 << 20
)

// Config is the complete set of serve settings. The YAML keys are the flag names with '_' in
// place of '-'.
type Config struct {
	// Listen is the TCP address of the gateway, such as 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Upstream is the base URL that allowed requests go to. The request path is appended to
	// its path byte for byte.
	Upstream string `yaml:"upstream"`
	// MockUpstream starts the built-in stand-in for the Client API and proxies to it instead
	// of Upstream.
	MockUpstream bool `yaml:"mock_upstream"`
	// MockListen is the TCP address of the mock upstream; port 0 picks a free port.
	MockListen string `yaml:"mock_listen"`
	// Policy is the policy file (scopes.yaml).
	Policy string `yaml:"policy"`
	// Store is the token store file.
	Store string `yaml:"store"`
	// Engine names the engine that decides requests, such as extism or native.
	Engine string `yaml:"engine"`
	// Modules is the folder with the built WebAssembly modules.
	Modules string `yaml:"modules"`
	// CacheDir, when set, keeps the WebAssembly compilation cache there across restarts.
	CacheDir string `yaml:"cache_dir"`
	// Shadow forwards every request and only reports the decision upstream in
	// X-Tokengate-Shadow-Reason.
	Shadow bool `yaml:"shadow"`
	// MaxHeaderBytes limits the size of a request's header block, in bytes.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// LogLevel is the minimum level logged: debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// DefaultConfig returns the settings used where neither a flag nor the config file sets one.
func DefaultConfig() Config {
	return Config{
		Listen:         DefaultListen,
		Policy:         DefaultPolicy,
		Engine:         DefaultEngine,
		Modules:        DefaultModules,
		MaxHeaderBytes: DefaultMaxHeaderBytes,
		MockListen:     DefaultMockListen,
		LogLevel:       "info",
	}
}

// fileConfig is the YAML layout of a config file. Pointer fields tell a key that the file
// sets apart from one it leaves out.
type fileConfig struct {
	Listen         *string      `yaml:"listen"`
	Upstream       *string      `yaml:"upstream"`
	MockUpstream   *bool        `yaml:"mock_upstream"`
	MockListen     *string      `yaml:"mock_listen"`
	Policy         *string      `yaml:"policy"`
	Store          *string      `yaml:"store"`
	Engine         *string      `yaml:"engine"`
	Modules        *string      `yaml:"modules"`
	CacheDir       *string      `yaml:"cache_dir"`
	Shadow         *bool        `yaml:"shadow"`
	MaxHeaderBytes *wholeNumber `yaml:"max_header_bytes"`
	LogLevel       *string      `yaml:"log_level"`
}

// wholeNumber is an int setting of the config file. Unlike a plain int, it rejects a
// fraction such as 4096.9, which yaml.v3 would truncate without a word.
type wholeNumber int

// UnmarshalYAML accepts only a YAML integer.
func (n *wholeNumber) UnmarshalYAML(node *yaml.Node) error {
	var v int
	if node.Kind == yaml.ScalarNode && node.ShortTag() == "!!int" && node.Decode(&v) == nil {
		*n = wholeNumber(v)
		return nil
	}
	got := fmt.Sprintf("%q", node.Value)
	switch {
	case node.Kind == yaml.SequenceNode:
		got = "a list"
	case node.Kind == yaml.MappingNode:
		got = "a mapping"
	case node.ShortTag() == "!!float":
		got = node.Value
	}
	// The "line N: " form is the one configYAMLError rewrites into "FILE:N: ".
	return fmt.Errorf("line %d: invalid value: want a whole number, not %s", node.Line, got)
}

// LoadConfigFile reads a YAML config file over base and returns the result. Keys absent from
// the file keep base's values, and unknown keys are rejected. Relative file and folder paths
// in the file are resolved against the file's folder, so the file works from any working
// directory.
func LoadConfigFile(path string, base Config) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("read config file: %w", err)
	}
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return base, configYAMLError(path, err)
	}
	dir := filepath.Dir(path)
	cfg := base
	setString(&cfg.Listen, f.Listen)
	setString(&cfg.Upstream, f.Upstream)
	setBool(&cfg.MockUpstream, f.MockUpstream)
	setString(&cfg.MockListen, f.MockListen)
	setPath(&cfg.Policy, f.Policy, dir)
	setPath(&cfg.Store, f.Store, dir)
	setString(&cfg.Engine, f.Engine)
	setPath(&cfg.Modules, f.Modules, dir)
	setPath(&cfg.CacheDir, f.CacheDir, dir)
	setBool(&cfg.Shadow, f.Shadow)
	if f.MaxHeaderBytes != nil {
		cfg.MaxHeaderBytes = int(*f.MaxHeaderBytes)
	}
	setString(&cfg.LogLevel, f.LogLevel)
	return cfg, nil
}

// configKeys lists the keys of a config file, in the order of fileConfig's fields.
func configKeys() []string {
	t := reflect.TypeFor[fileConfig]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("yaml")
	}
	return keys
}

// Messages of go.yaml.in/yaml/v3 that configYAMLError rewrites, because they name Go types.
var (
	yamlLineMessage   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownKey    = regexp.MustCompile(`^field (\S+) not found in type gateway\.fileConfig$`)
	yamlWrongType     = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
	yamlExpectedValue = map[string]string{"bool": "true or false", "int": "a whole number", "string": "a single value"}
	yamlKindOfValue   = map[string]string{"seq": "a list", "map": "a mapping", "str": "a string"}
)

// configYAMLError rewrites a yaml/v3 error into "file:line: message" lines that name keys and
// values as the config file spells them, and list the valid keys for an unknown one.
func configYAMLError(path string, err error) error {
	var typeErr *yaml.TypeError
	messages := []string{err.Error()}
	if errors.As(err, &typeErr) {
		messages = typeErr.Errors
	}
	for i, m := range messages {
		messages[i] = configYAMLMessage(path, m)
	}
	return fmt.Errorf("invalid config file: %s", strings.Join(messages, "; "))
}

func configYAMLMessage(path, msg string) string {
	m := yamlLineMessage.FindStringSubmatch(msg)
	if m == nil {
		return path + ": " + strings.TrimPrefix(msg, "yaml: ")
	}
	line, text := m[1], m[2]
	if k := yamlUnknownKey.FindStringSubmatch(text); k != nil {
		text = fmt.Sprintf("unknown key %q: want one of %s", k[1], strings.Join(configKeys(), ", "))
	} else if w := yamlWrongType.FindStringSubmatch(text); w != nil {
		got := yamlKindOfValue[w[1]]
		if got == "" {
			got = "a " + w[1]
		}
		if w[2] != "" {
			got = fmt.Sprintf("%q", w[2])
		}
		want, ok := yamlExpectedValue[w[3]]
		if w[3] == "gateway.fileConfig" {
			want, ok = "a mapping of keys such as listen and store", true
		}
		if ok {
			text = fmt.Sprintf("invalid value: want %s, not %s", want, got)
		}
	}
	return fmt.Sprintf("%s:%s: %s", path, line, text)
}

func setString(dst, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// setPath sets dst to v resolved against dir when v is a relative, non-empty path.
func setPath(dst, v *string, dir string) {
	if v == nil {
		return
	}
	*dst = *v
	if *v != "" && !filepath.IsAbs(*v) {
		*dst = filepath.Join(dir, *v)
	}
}

// Validate checks that the settings can start a gateway. It does not read the policy or the
// store: loading them reports their own errors.
func (c Config) Validate() error {
	if c.Listen == "" {
		return errors.New("listen address is empty: set --listen, such as 127.0.0.1:8080")
	}
	if err := checkListenAddress("listen", c.Listen); err != nil {
		return err
	}
	if c.MockUpstream && c.Upstream != "" {
		return fmt.Errorf("both an upstream (%s) and the mock upstream are set: choose one", RedactURL(c.Upstream))
	}
	if c.MockUpstream && c.MockListen == "" {
		return errors.New("mock upstream address is empty: set --mock-listen, such as 127.0.0.1:9000")
	}
	if c.MockUpstream {
		if err := checkListenAddress("mock listen", c.MockListen); err != nil {
			return err
		}
	}
	if !c.MockUpstream {
		if c.Upstream == "" {
			return errors.New("no upstream: set --upstream URL, or --mock-upstream for the built-in stand-in")
		}
		if _, err := ParseUpstream(c.Upstream); err != nil {
			return err
		}
	}
	if c.Policy == "" {
		return errors.New("policy file is empty: set --policy, such as scopes.yaml")
	}
	if c.Store == "" {
		return errors.New("store file is missing: set --store to the token store file")
	}
	if c.Engine == "" {
		return errors.New("engine is empty: set --engine, such as extism or native")
	}
	if err := checkServeEngine(c.Engine); err != nil {
		return err
	}
	if c.MaxHeaderBytes < MinMaxHeaderBytes || c.MaxHeaderBytes > MaxMaxHeaderBytes {
		return fmt.Errorf("max header bytes (--max-header-bytes, or max_header_bytes in the config file) %d is out of range: use %d to %d",
			c.MaxHeaderBytes, MinMaxHeaderBytes, MaxMaxHeaderBytes)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return err
	}
	return nil
}

// unservableEngines maps the registered engines that serve rejects to the reason.
var unservableEngines = map[string]string{
	// Reload opens the new engine before it closes the old one, and the proxy-wasm SDK's
	// emulator allows one open host per process, so every reload would fail and keep the
	// old store in force, revoked tokens included.
	"proxywasm": "it runs in the proxy-wasm SDK's test emulator, which allows one open instance per process, " +
		"so reloads (and with them revocations) would fail: use extism or native, and use proxywasm in tokengate conformance",
}

// ServeEngines returns the engine names that serve accepts, sorted.
func ServeEngines() []string {
	var names []string
	for _, name := range engine.Names() {
		if _, ok := unservableEngines[name]; !ok {
			names = append(names, name)
		}
	}
	return names
}

// checkServeEngine rejects an engine name that is not registered or that serve cannot use.
func checkServeEngine(name string) error {
	if reason, ok := unservableEngines[name]; ok {
		return fmt.Errorf("engine %q cannot serve: %s", name, reason)
	}
	if !slices.Contains(engine.Names(), name) {
		return fmt.Errorf("engine %q is unknown: use one of %s", name, strings.Join(ServeEngines(), ", "))
	}
	return nil
}

// checkListenAddress checks that addr has the host:port form that net.Listen takes, with a
// numeric port. An empty host listens on every interface, and port 0 picks a free port.
func checkListenAddress(setting, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s address %q is invalid: want host:port, such as 127.0.0.1:8080", setting, addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s address %q has an invalid port: want a number from 0 to 65535", setting, addr)
	}
	return nil
}

// ParseUpstream checks an upstream base URL: http or https, a host, and no query, fragment or
// user information. A trailing slash is dropped, because the request path supplies its own.
// Errors show the URL through [RedactURL], because its user information or query may hold a
// credential.
func ParseUpstream(raw string) (*url.URL, error) {
	redactedURL := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// A *url.Error repeats the whole URL, and its cause may quote a part of it, such as
		// `invalid port ":pass" after host`. So the cause is shown only when nothing was hidden.
		if redactedURL != raw {
			return nil, fmt.Errorf("upstream %q is not a valid URL: use a URL such as https://api.example.com", redactedURL)
		}
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("upstream %q: %w", redactedURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("upstream %q: scheme must be http or https", redactedURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("upstream %q: missing host: use a URL such as https://api.example.com", redactedURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		note := ""
		if redactedURL != raw {
			note = " (the parts shown as " + redacted + " are hidden because they may hold a credential)"
		}
		return nil, fmt.Errorf("upstream %q: use a base URL without query, fragment or user information%s", redactedURL, note)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// redacted replaces the parts of a URL that RedactURL hides.
const redacted = "xxxxx"

// RedactURL returns raw with the user information, the query values and the fragment replaced
// by xxxxx, for messages and logs. [url.URL.Redacted] hides only the password, but a user
// name, a query value such as ?key=... and a fragment may hold a credential too. It works on
// the text, so it also hides those parts in a URL that does not parse. The last '@' counts
// as the end of the user information, even in a path or query, so that a password with an
// unescaped '/', '?' or '#' stays hidden. An '@' elsewhere therefore hides more than needed.
func RedactURL(raw string) string {
	var out strings.Builder
	rest := raw
	if scheme, afterScheme, ok := strings.Cut(raw, "://"); ok {
		out.WriteString(scheme + "://")
		rest = afterScheme
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		out.WriteString(redacted)
		rest = rest[at:]
	}

	rest, fragment, hasFragment := strings.Cut(rest, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	out.WriteString(rest)
	if hasQuery {
		out.WriteString("?" + redactQuery(query))
	}
	if hasFragment {
		out.WriteString("#")
	}
	if fragment != "" {
		out.WriteString(redacted)
	}
	return out.String()
}

// redactQuery keeps the names of a query's parameters and replaces their values with xxxxx.
// A parameter without '=' is all value, such as a bare key, so it is replaced whole.
func redactQuery(query string) string {
	if query == "" {
		return ""
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if name, _, ok := strings.Cut(p, "="); ok {
			params[i] = name + "=" + redacted
		} else if p != "" {
			params[i] = redacted
		}
	}
	return strings.Join(params, "&")
}

// ParseLogLevel returns the slog level named debug, info, warn or error.
func ParseLogLevel(name string) (slog.Level, error) {
	switch name {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q is invalid: use debug, info, warn or error", name)
}
