package core

import (
	"strings"
	"testing"
)

func TestIsBareAddress_Valid(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 bytes, the limit.
	longest := strings.Repeat("l", 64) + "@" + label63 + "." + label63 + "." + strings.Repeat("c", 61)
	for _, s := range []string{
		"dana@example.com",
		"a@b.c",
		"1@2.3",
		"DANA@EXAMPLE.COM",
		"first.last@example.com",
		"first.last+tag@sub.example.co.uk",
		"o'brien@example.com",
		"user_name@ex-ample.com",
		"x-y@a-b-c.example",
		"!#$%&'*+-/=?^_`{|}~@example.com",
		"dana@" + label63 + ".com",
		"dana@xn--bcher-kva.example",
		longest,
	} {
		if !IsBareAddress(s) {
			t.Errorf("IsBareAddress(%q) = false, want true", s)
		}
	}
	if len(longest) != 254 {
		t.Fatalf("longest valid address has %d bytes, want 254", len(longest))
	}
}

func TestIsBareAddress_Invalid(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	tooLong := strings.Repeat("l", 65) + "@" + label63 + "." + label63 + "." + strings.Repeat("c", 61)
	cases := []struct{ name, s string }{
		{"empty", ""},
		{"no at", "dana"},
		{"no local part", "@example.com"},
		{"no domain", "dana@"},
		{"domain without dot", "dana@localhost"},
		{"two ats", "dana@@example.com"},
		{"leading dot in local part", ".dana@example.com"},
		{"trailing dot in local part", "dana.@example.com"},
		{"two dots in local part", "da..na@example.com"},
		{"only a dot as local part", ".@example.com"},
		{"at in local part", "da@na@example.com"},
		{"display name", "Dana <dana@example.com>"},
		{"quoted display name", `"Dana" <dana@example.com>`},
		{"angle brackets", "<dana@example.com>"},
		{"two addresses", "dana@example.com,eve@example.com"},
		{"comma in local part", "dana,eve@example.com"},
		{"space in local part", "dana x@example.com"},
		{"space in domain", "dana@exa mple.com"},
		{"leading space", " dana@example.com"},
		{"trailing space", "dana@example.com "},
		{"tab", "dana@example.com\t"},
		{"newline", "dana@example.com\n"},
		{"quoted local part", `"dana"@example.com`},
		{"comment", "dana(x)@example.com"},
		{"semicolon", "dana;x@example.com"},
		{"colon", "dana:x@example.com"},
		{"backslash", `dana\@example.com`},
		{"square brackets", "dana[1]@example.com"},
		{"address literal", "dana@[127.0.0.1]"},
		{"non-ascii local part", "dänä@example.com"},
		{"non-ascii domain", "dana@exämple.com"},
		{"label starts with hyphen", "dana@-example.com"},
		{"label ends with hyphen", "dana@example-.com"},
		{"empty label", "dana@example..com"},
		{"leading dot in domain", "dana@.example.com"},
		{"trailing dot in domain", "dana@example.com."},
		{"underscore in domain", "dana@exa_mple.com"},
		{"label of 64 bytes", "dana@" + label63 + "a.com"},
		{"255 bytes", tooLong},
		{"port", "dana@example.com:25"},
		{"path", "dana@example.com/x"},
	}
	if len(tooLong) != 255 {
		t.Fatalf("too-long address has %d bytes, want 255", len(tooLong))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if IsBareAddress(c.s) {
				t.Errorf("IsBareAddress(%q) = true, want false", c.s)
			}
		})
	}
}

func TestIsDomain(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"example.com", true},
		{"a.b", true},
		{"sub.example.co.uk", true},
		{"EXAMPLE.COM", true},
		{"1-2.3", true},
		{"example", false},
		{"", false},
		{".", false},
		{"example.com.", false},
		{".example.com", false},
		{"-a.com", false},
		{"a-.com", false},
		{"a_b.com", false},
		{"a b.com", false},
	}
	for _, c := range cases {
		if got := IsDomain(c.s); got != c.want {
			t.Errorf("IsDomain(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

func TestReadActAs(t *testing.T) {
	cases := []struct {
		name      string
		headers   []Header
		value     string
		ambiguous bool
	}{
		{"none", nil, "", false},
		{"other headers only", []Header{{"Content-Type", "x"}, {"X-ActAs", "a@b.c"}}, "", false},
		{"scio", []Header{{HeaderScioActAs, "a@b.c"}}, "a@b.c", false},
		{"glean", []Header{{HeaderGleanActAs, "a@b.c"}}, "a@b.c", false},
		{"names in any case", []Header{{"x-sCiO-aCtAs", "a@b.c"}}, "a@b.c", false},
		{"trimmed", []Header{{HeaderScioActAs, "\t a@b.c \t"}}, "a@b.c", false},
		{"inner space kept", []Header{{HeaderScioActAs, " a @b.c "}}, "a @b.c", false},
		{"empty dropped", []Header{{HeaderScioActAs, ""}, {HeaderGleanActAs, "a@b.c"}}, "a@b.c", false},
		{"blank dropped", []Header{{HeaderGleanActAs, "a@b.c"}, {HeaderScioActAs, " \t"}}, "a@b.c", false},
		{"only blanks", []Header{{HeaderScioActAs, " "}, {HeaderGleanActAs, "\t"}}, "", false},
		{"first value kept", []Header{{HeaderScioActAs, "A@B.C"}, {HeaderGleanActAs, "a@b.c"}}, "A@B.C", false},
		{"distinct values", []Header{{HeaderScioActAs, "a@b.c"}, {HeaderGleanActAs, "d@b.c"}}, "a@b.c", true},
		{"distinct values under one name", []Header{{HeaderScioActAs, "a@b.c"}, {HeaderScioActAs, "d@b.c"}}, "a@b.c", true},
		{"case folding is ascii only", []Header{{HeaderScioActAs, "é@b.c"}, {HeaderGleanActAs, "É@b.c"}}, "é@b.c", true},
		{"underscore name ignored", []Header{{"X_Scio_ActAs", "a@b.c"}}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := readActAs(c.headers)
			if got.value != c.value {
				t.Errorf("value = %q, want %q", got.value, c.value)
			}
			if got.ambiguous != c.ambiguous {
				t.Errorf("ambiguous = %v, want %v", got.ambiguous, c.ambiguous)
			}
		})
	}
}

func TestEqualFoldASCII_EveryBytePair(t *testing.T) {
	lower := func(c byte) byte {
		if 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	for x := range 256 {
		for y := range 256 {
			a, b := string([]byte{'x', byte(x)}), string([]byte{'x', byte(y)})
			if got, want := equalFoldASCII(a, b), lower(byte(x)) == lower(byte(y)); got != want {
				t.Errorf("equalFoldASCII(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
	if equalFoldASCII("ab", "abc") {
		t.Errorf("equalFoldASCII of different lengths = true")
	}
}
