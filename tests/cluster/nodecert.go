package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// runNodeCert issues the identity of a node agent: a certificate with
// CN=system:node:NAME, O=system:nodes (what the Node authorizer and the
// NodeRestriction admission plugin key on), usable both as the node's client
// certificate and as its kubelet serving certificate (SANs NAME, 127.0.0.1),
// and a kubeconfig embedding it. Files: DIR/nodes/NAME.{crt,key,kubeconfig}.
func runNodeCert(args []string) int {
	fs := flag.NewFlagSet("node-cert", flag.ContinueOnError)
	dirFlag := fs.String("dir", "", "the directory given to `testcluster up` (required)")
	name := fs.String("name", "", "node name (required)")
	server := fs.String("server", "", "apiserver URL (default: the one in DIR/admin.kubeconfig)")
	var ips stringList
	fs.Var(&ips, "ip", "extra IP SAN for serving (repeatable; 127.0.0.1 is always included)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dirFlag == "" || *name == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: testcluster node-cert --dir DIR --name NAME [--server URL] [--ip IP]...")
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "testcluster node-cert: "+format+"\n", a...)
		return 1
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		return fail("%v", err)
	}
	if *server == "" {
		if *server, err = serverFromKubeconfig(filepath.Join(dir, "admin.kubeconfig")); err != nil {
			return fail("no --server and no usable admin.kubeconfig (run `testcluster up` first): %v", err)
		}
	}
	sans := []net.IP{net.ParseIP("127.0.0.1")}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fail("--ip %q: not an IP address", s)
		}
		sans = append(sans, ip)
	}
	c, err := clusterCA(dir)
	if err != nil {
		return fail("CA: %v", err)
	}
	base := filepath.Join(dir, "nodes", *name)
	user := "system:node:" + *name
	certPEM, keyPEM, err := c.issue(base+".crt", base+".key", certSpec{
		cn: user, orgs: []string{"system:nodes"}, dns: []string{*name}, ips: sans, client: true, server: true,
	})
	if err != nil {
		return fail("%v", err)
	}
	if err := writeKubeconfig(base+".kubeconfig", *server, c.certPEM, user, certPEM, keyPEM); err != nil {
		return fail("%v", err)
	}
	fmt.Println(base + ".kubeconfig")
	return 0
}
