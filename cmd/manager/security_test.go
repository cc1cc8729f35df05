package main

import (
	"flag"
	"strings"
	"testing"
)

func parseSecurity(t *testing.T, args ...string) (*securityOptions, *flag.FlagSet) {
	t.Helper()
	o := &securityOptions{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o, fs
}

func TestStandaloneNeedsExplicitDevelopmentFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{nil, "--matching-auth=disabled"},
		{[]string{"--matching-auth=disabled"}, "--matching-tls=disabled"},
		{[]string{"--matching-tls=disabled"}, "--matching-auth=disabled"},
		{[]string{"--matching-auth=enforce", "--matching-tls=disabled"}, "--matching-auth=disabled"},
		{[]string{"--matching-auth=disabled", "--matching-tls=self-signed"}, "--matching-tls=disabled"},
		{[]string{"--matching-auth=disabled", "--matching-tls=files"}, "--matching-tls-cert-file"},
		{[]string{"--matching-auth=bogus", "--matching-tls=disabled"}, "want enforce or disabled"},
		{[]string{"--matching-auth=disabled", "--matching-tls=disabled"}, ""},
		{[]string{"--matching-auth=disabled", "--matching-tls=files", "--matching-tls-cert-file=c", "--matching-tls-key-file=k"}, ""},
	} {
		o, fs := parseSecurity(t, tc.args...)
		err := o.validateStandalone(fs)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.wantErr)
		}
	}
}

func TestDefaultsAreSecure(t *testing.T) {
	o, _ := parseSecurity(t)
	if o.auth != "enforce" || o.tls != tlsSelfSigned {
		t.Fatalf("defaults auth=%s tls=%s, want enforce and self-signed", o.auth, o.tls)
	}
}

func TestTLSNames(t *testing.T) {
	o, _ := parseSecurity(t, "--matching-tls-extra-names=127.0.0.1, matching.example.com")
	dns, ips := o.tlsNames("ops", "taskroute-matching.ops.svc:7233")
	want := "taskroute-matching,taskroute-matching.ops,taskroute-matching.ops.svc,taskroute-matching.ops.svc.cluster.local,matching.example.com"
	if got := strings.Join(dns, ","); got != want {
		t.Errorf("dns names %s, want %s", got, want)
	}
	if len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Errorf("ips %v", ips)
	}
}

// TestRenderOptionsFollowMatchingSecurity: worker pods get a token only when the matching
// service checks tokens, and the CA bundle only when it serves TLS; otherwise a pod would
// dial TLS to a plaintext server, or fail on a token volume nobody reads.
func TestRenderOptionsFollowMatchingSecurity(t *testing.T) {
	for _, tc := range []struct {
		auth, tls                       string
		wantWithoutToken, wantPlaintext bool
	}{
		{"enforce", tlsSelfSigned, false, false},
		{"enforce", tlsFiles, false, false},
		{"disabled", tlsSelfSigned, true, false},
		{"enforce", tlsDisabled, false, true},
		{"disabled", tlsDisabled, true, true},
	} {
		o := securityOptions{auth: tc.auth, tls: tc.tls}
		got := o.renderOptions("m:7233")
		if got.MatchingAddress != "m:7233" || got.WithoutToken != tc.wantWithoutToken || got.PlaintextMatching != tc.wantPlaintext {
			t.Errorf("auth=%s tls=%s: got %+v", tc.auth, tc.tls, got)
		}
	}
}
