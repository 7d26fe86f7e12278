// composecheck validates a Compose file the way Docker Compose loads it (compose-go: the Compose
// specification's schema, interpolation, references); there is no Docker engine on the build machine.
// Usage: composecheck FILE...
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	opts, err := cli.NewProjectOptions(os.Args[1:], cli.WithName("proactive-care"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("valid: %d services\n", len(project.Services))
}
