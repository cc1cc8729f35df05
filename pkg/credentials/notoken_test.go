package credentials

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingTokenSaysWhatToDo: without a token and without TASKROUTE_INSECURE, the error
// names where the token was looked for and both ways out.
func TestMissingTokenSaysWhatToDo(t *testing.T) {
	if _, err := os.Stat(DefaultTokenFile); err == nil {
		t.Skipf("%s exists here", DefaultTokenFile)
	}
	t.Setenv(EnvInsecure, "")
	os.Unsetenv(EnvInsecure)
	t.Setenv(EnvTokenFile, "")
	os.Unsetenv(EnvTokenFile)
	t.Setenv(EnvCAFile, "")
	os.Unsetenv(EnvCAFile)

	_, err := DialOptions()
	var nt *NoTokenError
	if !errors.As(err, &nt) || nt.FromEnv || nt.Path != DefaultTokenFile || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DialOptions() = %v, want a NoTokenError for the default path", err)
	}
	for _, want := range []string{DefaultTokenFile, "TASKROUTE_TOKEN_FILE is not set", "TASKROUTE_INSECURE=true", "kubectl create token", "--audience=taskroute.dev/matching"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}

	t.Setenv(EnvTokenFile, filepath.Join(t.TempDir(), "token"))
	if _, err := DialOptions(); !errors.As(err, &nt) || !nt.FromEnv || !strings.Contains(err.Error(), "TASKROUTE_TOKEN_FILE="+nt.Path) {
		t.Errorf("named but missing token file: %v", err)
	}
}
