package credentials

import (
	"crypto/tls"
	"fmt"
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
	// EnvInsecure=true dials without TLS and sends the token in clear (or none when no
	// token file exists). Only for a server started with --matching-tls=disabled.
	EnvInsecure = workerenv.Insecure
)

// DialOptions returns the transport and per-call credentials for the matching service,
// from the environment:
//   - TLS verified against TASKROUTE_CA_FILE (default DefaultCAFile; when neither the
//     variable is set nor the default file exists, the system roots are used);
//   - the token of TASKROUTE_TOKEN_FILE (default DefaultTokenFile) on every call; a
//     missing token file is a *NoTokenError unless TASKROUTE_INSECURE=true;
//   - TASKROUTE_INSECURE=true: plaintext (development).
func DialOptions() ([]grpc.DialOption, error) {
	allowInsecure := false
	if v := os.Getenv(EnvInsecure); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s: want true or false, got %q", EnvInsecure, v)
		}
		allowInsecure = b
	}
	var opts []grpc.DialOption
	if allowInsecure {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc, err := transportFromEnvironment()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(tc))
	}

	tokenFile := os.Getenv(EnvTokenFile)
	explicit := tokenFile != "" // set but empty counts as unset
	if !explicit {
		tokenFile = DefaultTokenFile
	}
	tok, err := NewTokenFile(tokenFile, TokenFileOptions{AllowInsecure: allowInsecure})
	switch {
	case err == nil:
		opts = append(opts, grpc.WithPerRPCCredentials(tok))
	case allowInsecure && !explicit:
		// Development without auth: no token to send.
	default:
		return nil, &NoTokenError{Path: tokenFile, FromEnv: explicit, Err: err, Insecure: allowInsecure}
	}
	return opts, nil
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
