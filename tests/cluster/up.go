package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// child is one control-plane component running as a child process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

type cluster struct {
	dir      string
	children []*child
	exited   chan *child
	sig      chan os.Signal
}

var errInterrupted = errors.New("interrupted")

// start runs `<this binary> name args...` with stdout and stderr appended to
// DIR/logs/<name>.log. Children are killed by the kernel if this process dies
// (see childAttrs).
func (cl *cluster) start(name string, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(cl.dir, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "# %s %s %s\n", time.Now().Format(time.RFC3339), name, strings.Join(args, " "))
	cmd := exec.Command(exe, append([]string{name}, args...)...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	cl.children = append(cl.children, c)
	go func() {
		c.err = cmd.Wait()
		close(c.done)
		cl.exited <- c
	}()
	logf.Sync()
	fmt.Fprintf(os.Stderr, "testcluster: started %s (pid %d), log %s\n", name, cmd.Process.Pid, logPath)
	return nil
}

// waitFor polls check until it succeeds, a child exits, a signal arrives or
// the deadline passes.
func (cl *cluster) waitFor(what string, deadline time.Time, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready in time: %v", what, err)
		}
		select {
		case c := <-cl.exited:
			return fmt.Errorf("%s exited (%v) while waiting for %s; see %s", c.name, c.err, what,
				filepath.Join(cl.dir, "logs", c.name+".log"))
		case s := <-cl.sig:
			fmt.Fprintf(os.Stderr, "testcluster: %v while waiting for %s\n", s, what)
			return errInterrupted
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop ends the children in reverse start order: SIGTERM, then SIGKILL after grace.
func (cl *cluster) stop(grace time.Duration) {
	for i := len(cl.children) - 1; i >= 0; i-- {
		c := cl.children[i]
		select {
		case <-c.done:
			continue
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "testcluster: %s did not stop in %v, killing it\n", c.name, grace)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		fmt.Fprintf(os.Stderr, "testcluster: stopped %s\n", c.name)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func httpGetOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// pkiFiles are the paths `up` creates in DIR.
type pkiFiles struct {
	dir                                string
	caCrt, caKey, saKey, saPub         string
	apiserverCrt, apiserverKey         string
	kubeletClientCrt, kubeletClientKey string
	frontProxyCACrt, frontProxyCAKey   string
	frontProxyCrt, frontProxyKey       string
	adminKubeconfig                    string
	cmKubeconfig, schedKubeconfig      string
}

func newPKIFiles(dir string) pkiFiles {
	p := func(n string) string { return filepath.Join(dir, n) }
	return pkiFiles{
		dir: dir, caCrt: p("ca.crt"), caKey: p("ca.key"), saKey: p("sa.key"), saPub: p("sa.pub"),
		apiserverCrt: p("pki/apiserver.crt"), apiserverKey: p("pki/apiserver.key"),
		kubeletClientCrt: p("pki/apiserver-kubelet-client.crt"), kubeletClientKey: p("pki/apiserver-kubelet-client.key"),
		frontProxyCACrt: p("pki/front-proxy-ca.crt"), frontProxyCAKey: p("pki/front-proxy-ca.key"),
		frontProxyCrt: p("pki/front-proxy-client.crt"), frontProxyKey: p("pki/front-proxy-client.key"),
		adminKubeconfig: p("admin.kubeconfig"),
		cmKubeconfig:    p("controller-manager.kubeconfig"), schedKubeconfig: p("scheduler.kubeconfig"),
	}
}

// ensurePKI creates (or reuses) the CA, the serving and client certificates
// and the service-account key, and (re)writes the kubeconfigs for server.
// It returns the admin client certificate and key.
func ensurePKI(f pkiFiles, server string, serviceIP net.IP, advertise net.IP) (c *ca, adminCert tls.Certificate, err error) {
	if c, err = clusterCA(f.dir); err != nil {
		return
	}
	if err = ensureServiceAccountKey(f.dir); err != nil {
		return
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), serviceIP}
	if advertise != nil && !advertise.IsLoopback() {
		ips = append(ips, advertise)
	}
	if _, _, err = c.issue(f.apiserverCrt, f.apiserverKey, certSpec{
		cn:     "kube-apiserver",
		dns:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips:    ips,
		server: true,
	}); err != nil {
		return
	}
	// The apiserver's client identity towards kubelets (logs, exec, port-forward).
	if _, _, err = c.issue(f.kubeletClientCrt, f.kubeletClientKey, certSpec{
		cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true,
	}); err != nil {
		return
	}
	// Request-header authentication (the aggregation layer): a CA of its own
	// and the client certificate the apiserver presents to extension servers.
	// Without it the components log "missing content for CA bundle" errors.
	fp, err := loadOrCreateCA(f.frontProxyCACrt, f.frontProxyCAKey, "wasmpod-testcluster-front-proxy-ca")
	if err != nil {
		return
	}
	if _, _, err = fp.issue(f.frontProxyCrt, f.frontProxyKey, certSpec{cn: "front-proxy-client", client: true}); err != nil {
		return
	}
	users := []struct {
		file, kubeconfig, cn string
		orgs                 []string
	}{
		{"admin", f.adminKubeconfig, "kubernetes-admin", []string{"system:masters"}},
		{"controller-manager", f.cmKubeconfig, "system:kube-controller-manager", nil},
		{"scheduler", f.schedKubeconfig, "system:kube-scheduler", nil},
	}
	for _, u := range users {
		certPEM, keyPEM, e := c.issue(filepath.Join(f.dir, "pki", u.file+".crt"), filepath.Join(f.dir, "pki", u.file+".key"),
			certSpec{cn: u.cn, orgs: u.orgs, client: true})
		if e != nil {
			return nil, adminCert, e
		}
		if e := writeKubeconfig(u.kubeconfig, server, c.certPEM, u.cn, certPEM, keyPEM); e != nil {
			return nil, adminCert, e
		}
		if u.file == "admin" {
			if adminCert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
				return
			}
		}
	}
	return
}

// lockDir takes an exclusive lock on DIR/up.lock for the life of the process,
// so two `up` never share one directory.
func lockDir(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "up.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%s is in use by another `testcluster up` (%v)", dir, err)
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return nil // f stays open (and locked) until exit
}

func runUp(args []string) int {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dirFlag := fs.String("dir", "", "state directory: certificates, kubeconfigs, etcd data, logs (required)")
	port := fs.Int("port", 6443, "apiserver secure port on 127.0.0.1 (0 = pick a free port)")
	advertise := fs.String("advertise-address", "127.0.0.1", "apiserver advertise address (not loopback: it also listens there, and its certificate names it)")
	serviceCIDR := fs.String("service-cluster-ip-range", "10.96.0.0/12", "service CIDR (its first address is the kubernetes service IP)")
	clusterCIDR := fs.String("cluster-cidr", "10.244.0.0/16", "pod CIDR that node podCIDRs are allocated from")
	nodeMask := fs.Int("node-cidr-mask-size", 24, "prefix length of each node's podCIDR")
	verbosity := fs.Int("v", 1, "log verbosity of the Kubernetes components")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the control plane to become ready")
	grace := fs.Duration("stop-grace", 20*time.Second, "per component: time from SIGTERM to SIGKILL when stopping")
	var etcdArgs, apiArgs, cmArgs, schedArgs stringList
	fs.Var(&etcdArgs, "etcd-arg", "extra etcd flag (repeatable), e.g. --etcd-arg=--log-level=info")
	fs.Var(&apiArgs, "apiserver-arg", "extra kube-apiserver flag (repeatable; later flags win)")
	fs.Var(&cmArgs, "controller-manager-arg", "extra kube-controller-manager flag (repeatable), e.g. --controller-manager-arg=--node-monitor-grace-period=8s")
	fs.Var(&schedArgs, "scheduler-arg", "extra kube-scheduler flag (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dirFlag == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: testcluster up --dir DIR [--port P] [flags]")
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "testcluster up: "+format+"\n", a...)
		return 1
	}

	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		return fail("%v", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "logs"), filepath.Join(dir, "pki")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail("%v", err)
		}
	}
	if err := lockDir(dir); err != nil {
		return fail("%v", err)
	}
	_ = os.Remove(filepath.Join(dir, "ready"))

	_, svcNet, err := net.ParseCIDR(*serviceCIDR)
	if err != nil {
		return fail("--service-cluster-ip-range: %v", err)
	}
	serviceIP := append(net.IP(nil), svcNet.IP.To4()...)
	if serviceIP == nil {
		return fail("--service-cluster-ip-range: IPv4 only here")
	}
	serviceIP[3]++ // the first address: the `kubernetes` service

	// Ports: the apiserver's as asked, the others free ones on loopback.
	if *port == 0 {
		if *port, err = freePort(); err != nil {
			return fail("%v", err)
		}
	} else if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))); err != nil {
		return fail("apiserver port %d is not free: %v", *port, err)
	} else {
		l.Close()
	}
	var etcdClientPort, etcdPeerPort, cmPort, schedPort int
	for _, p := range []*int{&etcdClientPort, &etcdPeerPort, &cmPort, &schedPort} {
		if *p, err = freePort(); err != nil {
			return fail("%v", err)
		}
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", *port)
	f := newPKIFiles(dir)
	advertiseIP := net.ParseIP(*advertise)
	if advertiseIP == nil {
		return fail("--advertise-address %q: not an IP address", *advertise)
	}
	c, adminCert, err := ensurePKI(f, server, serviceIP, advertiseIP)
	if err != nil {
		return fail("certificates: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	apiClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{adminCert}},
	}}
	// controller-manager and scheduler serve /healthz with self-signed certificates.
	healthClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	plainClient := &http.Client{Timeout: 5 * time.Second}

	// Children are started from this goroutine locked to one OS thread:
	// Pdeathsig fires when the thread that forked a child exits, not the process.
	runtime.LockOSThread()
	cl := &cluster{dir: dir, exited: make(chan *child, 8), sig: make(chan os.Signal, 2)}
	signal.Notify(cl.sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	began := time.Now()
	deadline := began.Add(*timeout)
	v := fmt.Sprintf("--v=%d", *verbosity)

	bringUp := func() error {
		etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort)
		if err := cl.start("etcd", append([]string{
			"--data-dir=" + filepath.Join(dir, "etcd"),
			"--listen-client-url=" + etcdURL,
			fmt.Sprintf("--listen-peer-url=http://127.0.0.1:%d", etcdPeerPort),
		}, etcdArgs...)); err != nil {
			return err
		}
		if err := cl.waitFor("etcd", deadline, func() error { return httpGetOK(plainClient, etcdURL+"/health") }); err != nil {
			return err
		}

		// Loopback only, unless the cluster is advertised elsewhere (nodes
		// in other network namespaces then reach it there).
		bind := "127.0.0.1"
		if !advertiseIP.IsLoopback() {
			bind = "0.0.0.0"
		}
		api := []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=" + bind,
			"--secure-port=" + strconv.Itoa(*port),
			"--advertise-address=" + *advertise,
			"--tls-cert-file=" + f.apiserverCrt,
			"--tls-private-key-file=" + f.apiserverKey,
			"--client-ca-file=" + f.caCrt,
			"--kubelet-client-certificate=" + f.kubeletClientCrt,
			"--kubelet-client-key=" + f.kubeletClientKey,
			// As kubeadm sets it: nodes are reached at their InternalIP (a
			// node's name need not resolve).
			"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + f.saPub,
			"--service-account-signing-key-file=" + f.saKey,
			"--service-cluster-ip-range=" + *serviceCIDR,
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--allow-privileged=true",
			"--requestheader-client-ca-file=" + f.frontProxyCACrt,
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-uid-headers=X-Remote-Uid",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file=" + f.frontProxyCrt,
			"--proxy-client-key-file=" + f.frontProxyKey,
			v,
		}
		if ip := net.ParseIP(*advertise); ip != nil && ip.IsLoopback() {
			// Endpoints may not hold loopback addresses: the `kubernetes`
			// service then gets no endpoints (as in upstream's test server).
			api = append(api, "--endpoint-reconciler-type=none")
		}
		if err := cl.start("kube-apiserver", append(api, apiArgs...)); err != nil {
			return err
		}
		if err := cl.waitFor("kube-apiserver /readyz", deadline, func() error { return httpGetOK(apiClient, server+"/readyz") }); err != nil {
			return err
		}

		cm := []string{
			"--kubeconfig=" + f.cmKubeconfig,
			"--authentication-kubeconfig=" + f.cmKubeconfig,
			"--authorization-kubeconfig=" + f.cmKubeconfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(cmPort),
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--service-account-private-key-file=" + f.saKey,
			"--root-ca-file=" + f.caCrt,
			"--cluster-signing-cert-file=" + f.caCrt,
			"--cluster-signing-key-file=" + f.caKey,
			"--allocate-node-cidrs=true",
			"--cluster-cidr=" + *clusterCIDR,
			"--node-cidr-mask-size=" + strconv.Itoa(*nodeMask),
			"--service-cluster-ip-range=" + *serviceCIDR,
			v,
		}
		if err := cl.start("kube-controller-manager", append(cm, cmArgs...)); err != nil {
			return err
		}
		sched := []string{
			"--kubeconfig=" + f.schedKubeconfig,
			"--authentication-kubeconfig=" + f.schedKubeconfig,
			"--authorization-kubeconfig=" + f.schedKubeconfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(schedPort),
			"--leader-elect=false",
			v,
		}
		if err := cl.start("kube-scheduler", append(sched, schedArgs...)); err != nil {
			return err
		}
		if err := cl.waitFor("kube-controller-manager /healthz", deadline, func() error {
			return httpGetOK(healthClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", cmPort))
		}); err != nil {
			return err
		}
		if err := cl.waitFor("kube-scheduler /healthz", deadline, func() error {
			return httpGetOK(healthClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort))
		}); err != nil {
			return err
		}
		// Pods can only be created once the namespace's `default` service
		// account exists (made by the controller-manager).
		return cl.waitFor("service account default/default", deadline, func() error {
			return httpGetOK(apiClient, server+"/api/v1/namespaces/default/serviceaccounts/default")
		})
	}

	code := 0
	if err := bringUp(); err != nil {
		if !errors.Is(err, errInterrupted) {
			fmt.Fprintf(os.Stderr, "testcluster up: %v\n", err)
			code = 1
		}
	} else {
		fmt.Fprintf(os.Stderr, "testcluster: control plane ready in %.1fs\n", time.Since(began).Seconds())
		_ = writeFile(filepath.Join(dir, "ready"), []byte(server+"\n"), 0o644)
		fmt.Printf("ready %s admin kubeconfig %s\n", server, f.adminKubeconfig)
		select {
		case s := <-cl.sig:
			fmt.Fprintf(os.Stderr, "testcluster: %v, stopping\n", s)
		case c := <-cl.exited:
			fmt.Fprintf(os.Stderr, "testcluster up: %s exited unexpectedly (%v); see %s\n", c.name, c.err,
				filepath.Join(dir, "logs", c.name+".log"))
			code = 1
		}
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	cl.stop(*grace)
	return code
}
