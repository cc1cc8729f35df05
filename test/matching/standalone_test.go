package matching

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStandaloneServesProbes: `manager --standalone` answers /healthz and /readyz on
// --health-probe-bind-address, readyz once the matching service serves.
func TestStandaloneServesProbes(t *testing.T) {
	probe := freeAddr(t)
	s := startServer(t, "", "--health-probe-bind-address", probe)
	for _, path := range []string{"/healthz", "/readyz", "/readyz/matching"} {
		code, body := httpGetUntilOK(t, fmt.Sprintf("http://%s%s", probe, path), 10*time.Second)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d %q, want 200\n%s", path, code, body, s.logTail())
		}
	}
}

// httpGetUntilOK polls url until it answers 200 or the deadline passes, and returns the
// last status (0 when nothing answered) and body.
func httpGetUntilOK(t *testing.T, url string, timeout time.Duration) (int, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := 0, ""
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, body = resp.StatusCode, string(b)
		}
		if code == http.StatusOK || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStandaloneReportsVersion: --version prints the build's version, and the service
// logs it when it starts.
func TestStandaloneReportsVersion(t *testing.T) {
	out, err := exec.Command(managerBin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "manager ") || strings.Contains(string(out), "(devel)") {
		t.Errorf("manager --version = %q (%v), want \"manager <version>\"", out, err)
	}
	want := strings.TrimPrefix(strings.TrimSpace(string(out)), "manager ")
	s := startServer(t, "")
	for _, line := range strings.Split(s.logTail(), "\n") {
		if strings.Contains(line, `"msg":"Started matching service"`) {
			if !strings.Contains(line, `"version":"`+want+`"`) {
				t.Errorf("startup log lacks version %q: %s", want, line)
			}
			return
		}
	}
	t.Errorf("no startup log line:\n%s", s.logTail())
}
