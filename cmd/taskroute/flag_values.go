package main

import (
	"fmt"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// The values of flags more than one command takes, parsed with errors naming the flag.

// kindFlag parses --kind: activity or workflow.
func kindFlag(s string) (client.Kind, error) {
	k, ok := client.ParseKind(s)
	if !ok {
		return "", fmt.Errorf("--kind: want activity or workflow, got %q", s)
	}
	return k, nil
}

// requiresFlag parses --requires NAME[=VALUE],... (the TASKROUTE_CAPABILITIES syntax); nil
// when empty.
func requiresFlag(s string) (client.Capabilities, error) {
	caps, err := workerenv.ParseCapabilities(s)
	if err != nil {
		return nil, fmt.Errorf("--requires: %w", err)
	}
	if len(caps) == 0 {
		return nil, nil
	}
	return caps, nil
}
