// Command proxy-bench measures redis-benchmark through the haredis proxy and
// through HAProxy against Redis directly, and through the proxy with TLS on
// both sides against a TLS Redis directly, in one run, and prints the
// ratios.
// It starts and stops every process itself. Run it with `make bench-proxy`.
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/supervise"

	"github.com/haredis/haredis/internal/redistest"
)

type target struct {
	name string
	port int
}

type result struct {
	rps, p50 float64
}

func main() {
	rounds := flag.Int("rounds", 5, "rounds over every target and case; the median is reported")
	n1 := flag.Int("n1", 60000, "requests per run at pipeline 1")
	n16 := flag.Int("n16", 300000, "requests per run at pipeline 16")
	clients := flag.Int("clients", 50, "redis-benchmark connections")
	procs := flag.String("proxy-gomaxprocs", "", "GOMAXPROCS for the proxy process (empty: Go's default)")
	alt := flag.String("also-gomaxprocs", "", "also measure a second proxy process with this GOMAXPROCS (reported, not in the bench line)")
	plain := flag.Bool("also-plain", false, "also measure a proxy process without io_uring (HAREDIS_PROXY_NO_IO_URING=1; reported, not in the bench line)")
	flag.Parse()
	if err := run(*rounds, *n1, *n16, *clients, *procs, *alt, *plain); err != nil {
		fmt.Fprintln(os.Stderr, "bench-proxy:", err)
		os.Exit(1)
	}
}

func run(rounds, n1, n16, clients int, procs, alt string, plain bool) error {
	dir, err := os.MkdirTemp("", "haredis-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "haredis")
	build := exec.Command("go", "build", "-o", bin, "./cmd/haredis")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("cannot build haredis: %w", err)
	}

	redis, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		return err
	}
	defer redis.Close()

	// The TLS cases: a second redis-server with a TLS port (its plain port
	// is for the readiness check only), and a proxy with TLS on both sides
	// in front of it, with certificates written here.
	tlsDir := filepath.Join(dir, "tls")
	if err := writeCertificates(tlsDir); err != nil {
		return err
	}
	tlsRedisPort, err := redistest.FreePort()
	if err != nil {
		return err
	}
	tlsRedis, err := redistest.StartServer(redistest.ServerConfig{Extra: []string{
		fmt.Sprintf("tls-port %d", tlsRedisPort),
		"tls-cert-file " + filepath.Join(tlsDir, certs.CertKey),
		"tls-key-file " + filepath.Join(tlsDir, certs.KeyKey),
		"tls-ca-cert-file " + filepath.Join(tlsDir, certs.CAKey),
		"tls-auth-clients no",
	}})
	if err != nil {
		return err
	}
	defer tlsRedis.Close()
	tlsArgs := []string{"--tls", "--cacert", filepath.Join(tlsDir, certs.CAKey)}

	proxyPort, adminPort, err := twoPorts()
	if err != nil {
		return err
	}
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	startProxy := func(port, admin int, procs, log string, env ...string) error {
		proxy := exec.Command(bin, "proxy", "--listen", addr(port), "--admin-listen", addr(admin), "--static-primary", redis.Addr())
		if log == "proxy-tls.log" {
			proxy = exec.Command(bin, "proxy", "--listen", addr(port), "--admin-listen", addr(admin),
				"--static-primary", addr(tlsRedisPort), "--tls-dir", tlsDir)
		}
		proxy.Env = append(os.Environ(), env...)
		if procs != "" {
			proxy.Env = append(proxy.Env, "GOMAXPROCS="+procs)
		}
		if err := start(proxy, filepath.Join(dir, log)); err != nil {
			return err
		}
		stops = append(stops, func() { stop(proxy) })
		return nil
	}
	if err := startProxy(proxyPort, adminPort, procs, "proxy.log"); err != nil {
		return err
	}

	haPort, err := redistest.FreePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(haPort, redis.Port())), 0o600); err != nil {
		return err
	}
	haproxy := exec.Command("haproxy", "-f", cfg, "-db")
	if err := start(haproxy, filepath.Join(dir, "haproxy.log")); err != nil {
		return fmt.Errorf("cannot start haproxy (make bench-proxy installs it): %w", err)
	}
	defer stop(haproxy)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := redistest.Wait(ctx, 50*time.Millisecond, func() error { return readyz(adminPort) }); err != nil {
		return fmt.Errorf("proxy not ready: %w", err)
	}
	for _, p := range []int{proxyPort, haPort} {
		if err := redistest.Wait(ctx, 100*time.Millisecond, func() error { return ping(p) }); err != nil {
			return fmt.Errorf("no PONG through port %d: %w", p, err)
		}
	}
	tlsProxyPort, tlsAdminPort, err := twoPorts()
	if err != nil {
		return err
	}
	if err := startProxy(tlsProxyPort, tlsAdminPort, procs, "proxy-tls.log"); err != nil {
		return err
	}
	if err := redistest.Wait(ctx, 50*time.Millisecond, func() error { return readyz(tlsAdminPort) }); err != nil {
		return fmt.Errorf("TLS proxy not ready: %w", err)
	}
	for _, p := range []int{tlsRedisPort, tlsProxyPort} {
		if err := redistest.Wait(ctx, 100*time.Millisecond, func() error { return ping(p, tlsArgs...) }); err != nil {
			return fmt.Errorf("no PONG over TLS through port %d: %w", p, err)
		}
	}

	targets := []target{{"direct", redis.Port()}, {"proxy", proxyPort}, {"haproxy", haPort}}
	if alt != "" {
		altPort, altAdmin, err := twoPorts()
		if err != nil {
			return err
		}
		if err := startProxy(altPort, altAdmin, alt, "proxy-alt.log"); err != nil {
			return err
		}
		if err := redistest.Wait(ctx, 50*time.Millisecond, func() error { return readyz(altAdmin) }); err != nil {
			return fmt.Errorf("second proxy not ready: %w", err)
		}
		targets = append(targets, target{"proxy-gmp" + alt, altPort})
	}
	if plain {
		plainPort, plainAdmin, err := twoPorts()
		if err != nil {
			return err
		}
		if err := startProxy(plainPort, plainAdmin, procs, "proxy-plain.log", "HAREDIS_PROXY_NO_IO_URING=1"); err != nil {
			return err
		}
		if err := redistest.Wait(ctx, 50*time.Millisecond, func() error { return readyz(plainAdmin) }); err != nil {
			return fmt.Errorf("plain proxy not ready: %w", err)
		}
		targets = append(targets, target{"proxy-plain", plainPort})
	}
	type caseT struct {
		test     string
		pipeline int
		n        int
	}
	cases := []caseT{{"set", 1, n1}, {"get", 1, n1}, {"set", 16, n16}, {"get", 16, n16}}
	// TLS on both sides: redis-benchmark with the CA against the TLS
	// redis-server directly and through the proxy, at pipeline 1.
	tlsTargets := []target{{"tls-direct", tlsRedisPort}, {"tls-proxy", tlsProxyPort}}
	tlsCases := cases[:2]
	samples := map[string][]result{}
	key := func(tg, test string, p int) string { return fmt.Sprintf("%s/%s_p%d", tg, test, p) }
	fmt.Printf("redis-benchmark: %d clients, rounds=%d, n=%d (P1) / %d (P16), proxy GOMAXPROCS=%q\n", clients, rounds, n1, n16, procs)
	measure := func(r int, cases []caseT, targets []target, extra ...string) error {
		for _, c := range cases {
			// Rotate the order so that drift in the machine's load does not
			// always favour the same target.
			for i := range targets {
				tg := targets[(i+r)%len(targets)]
				res, err := benchmark(tg.port, c.test, c.pipeline, c.n, clients, extra...)
				if err != nil {
					return fmt.Errorf("%s %s P%d: %w", tg.name, c.test, c.pipeline, err)
				}
				samples[key(tg.name, c.test, c.pipeline)] = append(samples[key(tg.name, c.test, c.pipeline)], res)
			}
		}
		return nil
	}
	for r := 0; r < rounds; r++ {
		if err := measure(r, cases, targets); err != nil {
			return err
		}
		if err := measure(r, tlsCases, tlsTargets, tlsArgs...); err != nil {
			return err
		}
	}
	// A ratio is taken within each round, where the targets ran back to
	// back, and the median of the rounds' ratios is reported.
	fmt.Printf("%-10s %-10s %12s %9s %8s\n", "case", "target", "ops/s", "p50 ms", "ratio")
	ratios := map[string]float64{}
	for _, c := range cases {
		name := fmt.Sprintf("%s_p%d", c.test, c.pipeline)
		direct := samples[key("direct", c.test, c.pipeline)]
		for _, tg := range targets {
			own := samples[key(tg.name, c.test, c.pipeline)]
			per := make([]result, len(own))
			for i := range own {
				per[i] = result{rps: own[i].rps / direct[i].rps}
			}
			ratio := median(per).rps
			ratios[tg.name+"/"+name] = ratio
			m := median(own)
			fmt.Printf("%-10s %-10s %12.0f %9.3f %8.2f\n", name, tg.name, m.rps, m.p50, ratio)
		}
	}
	for _, c := range tlsCases {
		name := fmt.Sprintf("%s_p%d", c.test, c.pipeline)
		direct := samples[key("tls-direct", c.test, c.pipeline)]
		for _, tg := range tlsTargets {
			own := samples[key(tg.name, c.test, c.pipeline)]
			per := make([]result, len(own))
			for i := range own {
				per[i] = result{rps: own[i].rps / direct[i].rps}
			}
			ratio := median(per).rps
			ratios[tg.name+"/"+name] = ratio
			m := median(own)
			fmt.Printf("%-10s %-10s %12.0f %9.3f %8.2f\n", name, tg.name, m.rps, m.p50, ratio)
		}
	}
	var line []string
	for _, tg := range []string{"proxy", "haproxy"} {
		for _, c := range cases {
			name := fmt.Sprintf("%s_p%d", c.test, c.pipeline)
			k := name
			if tg == "haproxy" {
				k = "haproxy_" + name
			}
			line = append(line, fmt.Sprintf("%s=%.2f", k, ratios[tg+"/"+name]))
		}
	}
	for _, c := range tlsCases {
		name := fmt.Sprintf("%s_p%d", c.test, c.pipeline)
		line = append(line, fmt.Sprintf("tls_%s=%.2f", name, ratios["tls-proxy/"+name]))
	}
	fmt.Println("bench: proxy " + strings.Join(line, " "))
	return nil
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func twoPorts() (int, int, error) {
	a, err := redistest.FreePort()
	if err != nil {
		return 0, 0, err
	}
	for {
		b, err := redistest.FreePort()
		if err != nil || b != a {
			return a, b, err
		}
	}
}

func start(cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := supervise.StartTied(cmd); err != nil {
		return fmt.Errorf("cannot start %s: %w", cmd.Path, err)
	}
	return nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func readyz(port int) error {
	resp, err := http.Get("http://" + addr(port) + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}

// writeCertificates writes a CA and a certificate for 127.0.0.1 into dir,
// as a pod mounts its certificate Secret.
func writeCertificates(dir string) error {
	now := time.Now()
	caPEM, caKey, err := certs.NewCA("haredis bench CA", now)
	if err != nil {
		return fmt.Errorf("cannot create the bench CA: %w", err)
	}
	crt, key, err := certs.Issue(caPEM, caKey, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, now)
	if err != nil {
		return fmt.Errorf("cannot issue the bench certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot write the bench certificates: %w", err)
	}
	for name, b := range map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("cannot write the bench certificates: %w", err)
		}
	}
	return nil
}

// ping asks for PONG through port; extra are redis-cli's TLS options.
func ping(port int, extra ...string) error {
	args := append([]string{"-p", strconv.Itoa(port)}, extra...)
	out, err := exec.Command("redis-cli", append(args, "PING")...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "PONG" {
		return fmt.Errorf("redis-cli PING: %q %v", out, err)
	}
	return nil
}

// benchmark runs redis-benchmark once and parses its CSV summary; extra
// are its TLS options.
func benchmark(port int, test string, pipeline, n, clients int, extra ...string) (result, error) {
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", strconv.Itoa(clients), "-n", strconv.Itoa(n), "-P", strconv.Itoa(pipeline),
		"-t", test, "--csv"}, extra...)
	out, err := exec.Command("redis-benchmark", args...).Output()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) < 2 {
		return result{}, fmt.Errorf("cannot parse redis-benchmark output %q: %v", out, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	rps, err1 := strconv.ParseFloat(rows[1][col["rps"]], 64)
	p50, err2 := strconv.ParseFloat(rows[1][col["p50_latency_ms"]], 64)
	if err1 != nil || err2 != nil {
		return result{}, fmt.Errorf("cannot parse redis-benchmark output %q", out)
	}
	return result{rps: rps, p50: p50}, nil
}

func median(rs []result) result {
	sorted := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{rps: sorted(func(r result) float64 { return r.rps }), p50: sorted(func(r result) float64 { return r.p50 })}
}

func haproxyConfig(port, redisPort int) string {
	return fmt.Sprintf(`global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    timeout client 1m
    timeout server 1m

frontend redis
    bind 127.0.0.1:%d
    default_backend redis_primary

backend redis_primary
    option tcp-check
    tcp-check connect
    tcp-check send PING\r\n
    tcp-check expect string +PONG
    tcp-check send info\ replication\r\n
    tcp-check expect string role:master
    tcp-check send QUIT\r\n
    tcp-check expect string +OK
    server redis1 127.0.0.1:%d check inter 1s
`, port, redisPort)
}
