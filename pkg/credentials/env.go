package credentials

import (
	"crypto/tls"
	"fmt"
	"log"
	"os"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/taskroute/taskroute/pkg/workerenv"
)

// Environment variables the operator sets in worker pods; pkg/workerenv defines them.
const (
	EnvTokenFile = workerenv.TokenFile // projected ServiceAccount token; DefaultTokenFile
	EnvCAFile    = workerenv.CAFile    // CA bundle of the matching service; DefaultCAFile
	// EnvInsecure=true dials without TLS and sends no token. Only for a server started
	// with --matching-tls=disabled.
	EnvInsecure = workerenv.Insecure
	// EnvInsecureToken=true, with EnvInsecure, sends the token in clear anyway (anyone on
	// the path can read it), with a warning: for a server with authentication on and TLS
	// off. The operator sets it for worker pods of such a manager.
	EnvInsecureToken = workerenv.InsecureToken
)

// DialOptions returns the transport and per-call credentials for the matching service,
// from the environment:
//   - TLS verified against TASKROUTE_CA_FILE (default DefaultCAFile; when neither the
//     variable is set nor the default file exists, the system roots are used), with the
//     token of TASKROUTE_TOKEN_FILE (default DefaultTokenFile) on every call; a missing
//     token file is a *NoTokenError that says what to do;
//   - TASKROUTE_INSECURE=true: plaintext (development) and no token, whatever token file
//     is set or exists;
//   - TASKROUTE_INSECURE=true and TASKROUTE_INSECURE_TOKEN=true: plaintext with the token
//     (a missing token file is an error), after a warning on the standard logger.
func DialOptions() ([]grpc.DialOption, error) {
	allowInsecure, err := boolEnv(EnvInsecure)
	if err != nil {
		return nil, err
	}
	tokenInClear, err := boolEnv(EnvInsecureToken)
	if err != nil {
		return nil, err
	}
	if !allowInsecure {
		tc, err := transportFromEnvironment()
		if err != nil {
			return nil, err
		}
		tok, err := tokenFromEnvironment(false)
		if err != nil {
			return nil, err
		}
		return []grpc.DialOption{grpc.WithTransportCredentials(tc), grpc.WithPerRPCCredentials(tok)}, nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if !tokenInClear {
		// Plaintext means no token: a bearer token on an unencrypted connection can be
		// read and replayed by anyone on the path.
		return opts, nil
	}
	tok, err := tokenFromEnvironment(true)
	if err != nil {
		return nil, err
	}
	log.Printf("taskroute: warning: sending the ServiceAccount token of %s over plaintext (%s=true and %s=true); anyone on the network path can read it",
		tok.path, EnvInsecure, EnvInsecureToken)
	return append(opts, grpc.WithPerRPCCredentials(tok)), nil
}

// tokenFromEnvironment reads the token file TASKROUTE_TOKEN_FILE names, else
// DefaultTokenFile (set but empty counts as unset).
func tokenFromEnvironment(inClear bool) (*TokenFile, error) {
	tokenFile := os.Getenv(EnvTokenFile)
	explicit := tokenFile != ""
	if !explicit {
		tokenFile = DefaultTokenFile
	}
	tok, err := NewTokenFile(tokenFile, TokenFileOptions{AllowInsecure: inClear})
	if err != nil {
		return nil, &NoTokenError{Path: tokenFile, FromEnv: explicit, Err: err, Insecure: inClear}
	}
	return tok, nil
}

// boolEnv parses a true/false variable; unset or empty is false.
func boolEnv(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: want true or false, got %q", name, v)
	}
	return b, nil
}

func transportFromEnvironment() (credentials.TransportCredentials, error) {
	caFile := os.Getenv(EnvCAFile)
	if caFile == "" { // unset, or set but empty
		if _, err := os.Stat(DefaultCAFile); err != nil {
			return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}), nil
		}
		caFile = DefaultCAFile
	}
	tc, err := NewCAFileTLS(caFile, CAFileOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCAFile, err)
	}
	return tc, nil
}
