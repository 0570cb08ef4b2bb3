package main

import (
	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	_ "time/tzdata" // CronJob time zones, as the upstream kube-apiserver and kube-controller-manager mains do

	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// components maps a sub-command name to the upstream cobra command that runs it.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

// runComponent runs one Kubernetes component as its own binary would, with
// args as its command line (without the program name), and returns the exit code.
func runComponent(name string, args []string) int {
	cmd := components[name]()
	cmd.SetArgs(args)
	return cli.Run(cmd)
}
