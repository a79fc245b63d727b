package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmconfigv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	// The typed_config types of envoy.yaml that the test does not name otherwise.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

const (
	envoyExample = "../plugin/examples/envoy.yaml"
	istioExample = "../plugin/examples/istio-wasmplugin.yaml"
)

// parseEnvoyBootstrap converts YAML to JSON the way sigs.k8s.io/yaml does and decodes it
// strictly with protojson, then runs the proto validation rules, those of every typed_config
// included.
func parseEnvoyBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		return nil, err
	}
	if err := b.ValidateAll(); err != nil {
		return nil, err
	}
	if err := validateEmbedded(b.ProtoReflect()); err != nil {
		return nil, err
	}
	return &b, nil
}

// validateEmbedded runs the validation rules of every message packed in an Any below m, at
// any depth. The generated ValidateAll methods stop at an Any, which has no rules of its own,
// so without this the connection manager, its routes and the Wasm filter go unchecked.
func validateEmbedded(m protoreflect.Message) error {
	var errs []error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, value protoreflect.Value) bool {
					errs = append(errs, validateMessage(value.Message()))
					return true
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				errs = append(errs, validateMessage(v.List().Get(i).Message()))
			}
		default:
			errs = append(errs, validateMessage(v.Message()))
		}
		return true
	})
	return errors.Join(errs...)
}

// validateMessage unpacks m when it is an Any and runs the packed message's rules, then
// checks the Anys below it.
func validateMessage(m protoreflect.Message) error {
	packed, ok := m.Interface().(*anypb.Any)
	if !ok {
		return validateEmbedded(m)
	}
	inner, err := packed.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("%s: %w", packed.GetTypeUrl(), err)
	}
	if v, ok := inner.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %w", packed.GetTypeUrl(), err)
		}
	}
	return validateEmbedded(inner.ProtoReflect())
}

func readExample(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestEnvoyExample_IsValidBootstrap(t *testing.T) {
	b, err := parseEnvoyBootstrap(readExample(t, envoyExample))
	if err != nil {
		t.Fatalf("%s: %v", envoyExample, err)
	}
	listeners := b.GetStaticResources().GetListeners()
	if len(listeners) != 1 {
		t.Fatalf("%d listeners, want 1", len(listeners))
	}
	if got := listeners[0].GetAddress().GetSocketAddress().GetAddress(); got != "127.0.0.1" {
		t.Errorf("listener address = %q, want 127.0.0.1", got)
	}

	hcm := envoyHCM(t, b)
	if hcm.GetCodecType() != hcmv3.HttpConnectionManager_AUTO {
		t.Errorf("codec_type = %v, want AUTO", hcm.GetCodecType())
	}
	filters := hcm.GetHttpFilters()
	if len(filters) != 2 || filters[0].GetName() != "envoy.filters.http.wasm" || filters[1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("http_filters = %v, want the wasm filter, then the router", filters)
	}

	plugin := envoyWasmConfig(t, b).GetConfig()
	if plugin.GetFailurePolicy() != wasmconfigv3.FailurePolicy_FAIL_CLOSED {
		t.Errorf("failure_policy = %v, want FAIL_CLOSED", plugin.GetFailurePolicy())
	}
	vm := plugin.GetVmConfig()
	if vm.GetRuntime() != "envoy.wasm.runtime.v8" {
		t.Errorf("runtime = %q, want envoy.wasm.runtime.v8", vm.GetRuntime())
	}
	if got := vm.GetCode().GetLocal().GetFilename(); got != "build/"+emulator.ModuleName {
		t.Errorf("code.local.filename = %q, want build/%s", got, emulator.ModuleName)
	}

	for _, c := range b.GetStaticResources().GetClusters() {
		for _, ep := range c.GetLoadAssignment().GetEndpoints() {
			for _, lb := range ep.GetLbEndpoints() {
				if addr := lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress(); addr != "127.0.0.1" {
					t.Errorf("cluster %s has endpoint %q, want loopback only", c.GetName(), addr)
				}
			}
		}
	}
}

func envoyHCM(t *testing.T, b *bootstrapv3.Bootstrap) *hcmv3.HttpConnectionManager {
	t.Helper()
	chains := b.GetStaticResources().GetListeners()[0].GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 {
		t.Fatal("want one filter chain with one network filter")
	}
	var hcm hcmv3.HttpConnectionManager
	if err := chains[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatalf("network filter: %v", err)
	}
	return &hcm
}

// envoyWasmConfig returns the wasm filter's typed config.
func envoyWasmConfig(t *testing.T, b *bootstrapv3.Bootstrap) *wasmv3.Wasm {
	t.Helper()
	var w wasmv3.Wasm
	if err := envoyHCM(t, b).GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&w); err != nil {
		t.Fatalf("wasm filter: %v", err)
	}
	return &w
}

func TestEnvoyExample_MistakesFailValidation(t *testing.T) {
	good := string(readExample(t, envoyExample))
	tests := []struct {
		name, old, new string
	}{
		{"misspelt field", "codec_type: AUTO", "codec_typ: AUTO"},
		{"unknown enum value", "codec_type: AUTO", "codec_type: AUTOMATIC"},
		{"lower-case enum value", "failure_policy: FAIL_CLOSED", "failure_policy: fail_closed"},
		{"misspelt type URL", "filters.http.wasm.v3.Wasm", "filters.http.wasm.v3.WasmFilter"},
		{"port out of range", "port_value: 8081", "port_value: 80810"},
		{"missing cluster name", "cluster_name: client_api_upstream", "cluster_name: \"\""},
		{"empty stat prefix in the connection manager", "stat_prefix: client_api", "stat_prefix: \"\""},
		{"virtual host without domains", `domains: ["*"]`, "domains: []"},
		{"route without a cluster", "route: { cluster: client_api_upstream }", "route: { cluster: \"\" }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("%s no longer contains %q", envoyExample, tt.old)
			}
			bad := strings.Replace(good, tt.old, tt.new, 1)
			if _, err := parseEnvoyBootstrap([]byte(bad)); err == nil {
				t.Errorf("the bootstrap with %q in place of %q passed", tt.new, tt.old)
			}
		})
	}
}

func TestEnvoyExample_ConfigurationStartsFilter(t *testing.T) {
	b, err := parseEnvoyBootstrap(readExample(t, envoyExample))
	if err != nil {
		t.Fatal(err)
	}
	var value wrapperspb.StringValue
	if err := envoyWasmConfig(t, b).GetConfig().GetConfiguration().UnmarshalTo(&value); err != nil {
		t.Fatalf("configuration: %v", err)
	}
	checkExampleConfiguration(t, []byte(value.GetValue()))
}

// istioWasmPlugin lists the WasmPlugin fields the example may use, so that decoding with known
// fields catches a misspelt one. It mirrors the extensions.istio.io/v1alpha1 schema for these
// fields; Istio's own types are not a dependency of this module.
type istioWasmPlugin struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		URL             string         `yaml:"url"`
		SHA256          string         `yaml:"sha256"`
		ImagePullPolicy string         `yaml:"imagePullPolicy"`
		Phase           string         `yaml:"phase"`
		Priority        *int           `yaml:"priority"`
		Type            string         `yaml:"type"`
		FailStrategy    string         `yaml:"failStrategy"`
		PluginName      string         `yaml:"pluginName"`
		PluginConfig    map[string]any `yaml:"pluginConfig"`
	} `yaml:"spec"`
}

func TestIstioExample_IsValidWasmPlugin(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader(string(readExample(t, istioExample))))
	dec.KnownFields(true)
	var p istioWasmPlugin
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", istioExample, err)
	}
	if p.APIVersion != "extensions.istio.io/v1alpha1" || p.Kind != "WasmPlugin" {
		t.Errorf("apiVersion/kind = %s/%s, want extensions.istio.io/v1alpha1/WasmPlugin", p.APIVersion, p.Kind)
	}
	if p.Metadata.Name == "" {
		t.Error("metadata.name is empty")
	}

	enums := []struct {
		field, value string
		allowed      []string
	}{
		{"phase", p.Spec.Phase, []string{"AUTHN", "AUTHZ", "STATS", "UNSPECIFIED_PHASE"}},
		{"type", p.Spec.Type, []string{"HTTP", "NETWORK", "UNSPECIFIED_PLUGIN_TYPE"}},
		{"failStrategy", p.Spec.FailStrategy, []string{"FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"}},
		{"imagePullPolicy", p.Spec.ImagePullPolicy, []string{"IfNotPresent", "Always", "UNSPECIFIED_POLICY"}},
	}
	for _, e := range enums {
		if !contains(e.allowed, e.value) {
			t.Errorf("spec.%s = %q, want one of %v", e.field, e.value, e.allowed)
		}
	}
	if p.Spec.Phase != "AUTHN" || p.Spec.FailStrategy != "FAIL_CLOSE" {
		t.Errorf("phase %s, failStrategy %s: want AUTHN and FAIL_CLOSE for an authentication filter", p.Spec.Phase, p.Spec.FailStrategy)
	}

	scheme, _, _ := strings.Cut(p.Spec.URL, "://")
	if !contains([]string{"oci", "file", "http", "https"}, scheme) {
		t.Errorf("spec.url = %q, want an oci://, file://, http:// or https:// URL", p.Spec.URL)
	}

	// Istio hands pluginConfig to the filter as JSON.
	config, err := json.Marshal(p.Spec.PluginConfig)
	if err != nil {
		t.Fatal(err)
	}
	checkExampleConfiguration(t, config)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkExampleConfiguration starts the filter with a shipped plugin configuration, as Go code
// in this process and as the built module. It checks that the bundle contains the default
// policy and no tokens, so that a CORS preflight passes and every other request is denied.
func checkExampleConfiguration(t *testing.T, config []byte) {
	t.Helper()
	module, err := os.ReadFile(proxyWasmModule(t))
	if err != nil {
		t.Fatal(err)
	}
	moduleVM, err := emulator.NewModuleVM(module)
	if err != nil {
		t.Fatal(err)
	}
	defer moduleVM.Close()
	vms := []struct {
		name string
		vm   types.VMContext
	}{{"go", filter.NewVMContext()}, {"wasm", moduleVM}}
	for _, v := range vms {
		t.Run(v.name, func(t *testing.T) { checkExampleFilter(t, v.vm, config) })
	}

	var c filter.Config
	if err := json.Unmarshal(config, &c); err != nil {
		t.Fatal(err)
	}
	raw := []byte(c.Bundle)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	v, info, err := core.DecodeBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if info.Tokens != 0 {
		t.Errorf("the example bundle has %d tokens, want none", info.Tokens)
	}

	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Policy().Spec(), policy.Spec()) {
		t.Errorf("the example bundle's policy differs from scopes.yaml: rebuild it with tokengate bundle (docs/proxywasm.md)")
	}
}

// checkExampleFilter starts vm with a shipped configuration and sends a CORS preflight, which
// must pass, and a search without a token, which must get 401 missing_token.
func checkExampleFilter(t *testing.T, vm types.VMContext, config []byte) {
	h, err := emulator.Start(vm, config)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.Started() {
		t.Fatalf("the filter rejected the configuration: %v", h.Logs()["error"])
	}
	if got := h.Counter(filter.MetricConfigLoads); got != 1 {
		t.Errorf("%s = %d, want 1", filter.MetricConfigLoads, got)
	}

	search := "/rest/api/v1/search"
	preflight := []core.Header{{Name: "Origin", Value: "https://app.example.com"}, {Name: "Access-Control-Request-Method", Value: "POST"}}
	res, err := h.Do(emulator.Pairs("OPTIONS", search, preflight), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Continued() {
		t.Errorf("a CORS preflight was not forwarded (action %d, reply %+v)", res.Action, res.Reply)
	}
	res, err = h.Do(emulator.Pairs("POST", search, nil), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := res.Decision(); err != nil || d.Reason != core.ReasonMissingToken {
		t.Errorf("a search without a token got %+v (error %v), want 401 missing_token", d, err)
	}
}
