// Command demo shows daemonguard to a new user on a local control plane:
// `make demo` starts kube-apiserver, etcd and the webhook, applies the seed
// DaemonSets and a few unsafe ones, prints what was injected, denied and
// warned, and cleans up. `make dev-up` / `make dev-down` leave the same
// environment running in the background; `make sim-up` / `make sim-down` a
// simulated cluster of 100 nodes with the real DaemonSet controller and
// scheduler, and the webhook registered.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	devUp := fs.Bool("dev-up", false, "start the control plane and webhook in the background; ready when this exits 0")
	devDown := fs.Bool("dev-down", false, "stop what --dev-up started and remove its state")
	devRun := fs.Bool("dev-run", false, "internal: the background process --dev-up starts")
	simUp := fs.Bool("sim-up", false, "start the simulated cluster and webhook in the background; ready when this exits 0")
	simDown := fs.Bool("sim-down", false, "stop what --sim-up started and remove its state")
	simRun := fs.Bool("sim-run", false, "internal: the background process --sim-up starts")
	simNodes := fs.Int("sim-nodes", defaultSimNodes, "how many fake nodes --sim-up creates")
	_ = fs.Parse(os.Args[1:])
	var err error
	switch {
	case *devUp:
		err = devEnv.up()
	case *devDown:
		err = devEnv.down()
	case *devRun:
		err = devEnv.run()
	case *simUp:
		err = simEnv(*simNodes).up()
	case *simDown:
		err = simEnv(*simNodes).down()
	case *simRun:
		err = simEnv(*simNodes).run()
	default:
		err = runDemo(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}
