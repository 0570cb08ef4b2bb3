// Command testcluster is a real Kubernetes control plane for wasmpod's tests:
// one multi-call binary that runs etcd (embedded), kube-apiserver,
// kube-controller-manager and kube-scheduler from the upstream Go modules,
// plus `up`, which creates certificates and kubeconfigs and runs all four as
// child processes of itself, and `node-cert`, which issues a node identity.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func usage() {
	names := []string{}
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, `usage: testcluster COMMAND [flags]

commands:
  up --dir DIR [--port P]             certificates, kubeconfigs and a running control plane in DIR
  node-cert --dir DIR --name NAME     a node client certificate and kubeconfig in DIR/nodes
  etcd [flags]                        embedded etcd (single member, for tests)
`)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-34s upstream %s (see %s --help)\n", n+" [flags]", n, n)
	}
}

func main() {
	// Dispatch on the sub-command, or on the program name when a symlink
	// named after a component points at this binary.
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if !known(name) {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	switch name {
	case "up":
		os.Exit(runUp(args))
	case "node-cert":
		os.Exit(runNodeCert(args))
	case "etcd":
		os.Exit(runEtcd(args))
	case "help", "-h", "--help":
		usage()
		os.Exit(0)
	}
	if _, ok := components[name]; ok {
		os.Exit(runComponent(name, args))
	}
	fmt.Fprintf(os.Stderr, "testcluster: unknown command %q\n\n", name)
	usage()
	os.Exit(2)
}

func known(name string) bool {
	_, ok := components[name]
	return ok || name == "etcd"
}
