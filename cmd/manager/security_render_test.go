package main

import "testing"

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
