package plugin

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/haredis/haredis/internal/specs"
)

// Format is one way of writing the Sentinel connection for a client
// library.
type Format struct {
	// Name is the value of --format; Aliases are accepted too.
	Name    string
	Aliases []string
	// Client says for which library and in which form.
	Client string
	render func(f *facts) string
}

// facts are what a format renders.
type facts struct {
	conn *Connection
	// show prints the password itself; otherwise code reads the
	// environment variable of the connection Secret and strings show
	// Hidden.
	show bool
	// secret is the connection Secret's data, read when show is set.
	secret map[string][]byte
}

// placeholder stands for the password in URLs while they are built, so
// that Hidden is not percent-encoded.
const placeholder = "HAREDISPASSWORDPLACEHOLDER"

// password is the password a string format shows: itself or Hidden.
func (f *facts) password() string {
	if f.show {
		return f.conn.Password
	}
	return placeholder
}

// unmask puts Hidden where the placeholder stands.
func unmask(s string) string { return strings.ReplaceAll(s, placeholder, Hidden) }

// passwordExpr is the password as an expression of a language: the
// literal when shown, else the code that reads REDIS_PASSWORD from the
// environment (the connection Secret's key).
func (f *facts) passwordExpr(literal func(string) string, env string) string {
	if f.show {
		return literal(f.conn.Password)
	}
	return env
}

var formats = []Format{
	{Name: "go-redis", Aliases: []string{"go"}, Client: "go-redis v9: a URL for redis.ParseFailoverURL", render: goRedis},
	{Name: "redis-py", Aliases: []string{"python", "py"}, Client: "redis-py: Python code with redis.sentinel.Sentinel", render: redisPy},
	{Name: "redis-rb", Aliases: []string{"ruby", "sidekiq"}, Client: "redis-rb 4 and 5, Sidekiq: a Ruby hash for Redis.new or config.redis", render: redisRb},
	{Name: "lettuce", Aliases: []string{"spring"}, Client: "Lettuce and Spring Boot: a redis-sentinel:// URI, the Java to authenticate to the sentinels, Spring Boot properties", render: lettuce},
	{Name: "jedis", Client: "Jedis 4 and later: Java code with JedisSentinelPool", render: jedis},
	{Name: "ioredis", Client: "ioredis: JavaScript code", render: ioredis},
	{Name: "node-redis", Client: "node-redis 4.7 and later: JavaScript code with createSentinel", render: nodeRedis},
	{Name: "stackexchange", Aliases: []string{"stackexchange-redis", "dotnet", "csharp"}, Client: "StackExchange.Redis: a configuration string with serviceName=", render: stackExchange},
	{Name: "celery", Aliases: []string{"kombu"}, Client: "Celery and Kombu: Python settings for the broker and the result backend", render: celery},
	{Name: "env", Client: "the environment variables of the connection Secret (NAME-connection)", render: envFormat},
}

// Formats lists the Sentinel formats, in the order of the documentation.
func Formats() []Format { return append([]Format(nil), formats...) }

// FormatNames lists every name and alias of --format, sorted.
func FormatNames() []string {
	var names []string
	for _, f := range formats {
		names = append(names, f.Name)
		names = append(names, f.Aliases...)
	}
	sort.Strings(names)
	return names
}

// LookupFormat finds a format by name or alias.
func LookupFormat(name string) (Format, error) {
	for _, f := range formats {
		if f.Name == name {
			return f, nil
		}
		for _, a := range f.Aliases {
			if a == name {
				return f, nil
			}
		}
	}
	var b strings.Builder
	if name == "" {
		b.WriteString("choose a client library with --format:")
	} else {
		fmt.Fprintf(&b, "unknown format %q; choose one of:", name)
	}
	for _, f := range formats {
		fmt.Fprintf(&b, "\n  %-14s %s", f.Name, f.Client)
	}
	return Format{}, fmt.Errorf("%s", b.String())
}

func goRedis(f *facts) string {
	u := url.URL{Scheme: "redis", Host: f.conn.Sentinels[0], Path: "/0"}
	q := url.Values{"master_name": {f.conn.MasterName}}
	if f.conn.Auth {
		// The userinfo authenticates to the sentinels, password= to the
		// primary and the replicas.
		u.User = url.UserPassword("", f.password())
		q.Set("password", f.password())
	}
	for _, s := range f.conn.Sentinels[1:] {
		q.Add("addr", s)
	}
	u.RawQuery = q.Encode()
	return unmask(u.String()) + "\n"
}

func redisPy(f *facts) string {
	var b strings.Builder
	if !f.show && f.conn.Auth {
		b.WriteString("import os\n")
	}
	b.WriteString("from redis.sentinel import Sentinel\n\n")
	if f.conn.Auth {
		fmt.Fprintf(&b, "password = %s\n", f.passwordExpr(pyQuote, fmt.Sprintf("os.environ[%s]", pyQuote(specs.ConnPassword))))
	}
	b.WriteString("sentinel = Sentinel(\n    [")
	for i, s := range f.conn.Sentinels {
		h, p := HostPort(s)
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%s, %d)", pyQuote(h), p)
	}
	b.WriteString("],\n")
	if f.conn.Auth {
		b.WriteString("    sentinel_kwargs={\"password\": password},  # the sentinels\n")
		b.WriteString("    password=password,  # the primary\n")
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "client = sentinel.master_for(%s)\n", pyQuote(f.conn.MasterName))
	return b.String()
}

func redisRb(f *facts) string {
	var b strings.Builder
	b.WriteString("# Redis.new(REDIS_CONFIG), or Sidekiq's config.redis = REDIS_CONFIG\n")
	if f.conn.Auth {
		fmt.Fprintf(&b, "password = %s\n", f.passwordExpr(rbQuote, fmt.Sprintf("ENV.fetch(%s)", rbQuote(specs.ConnPassword))))
	}
	b.WriteString("REDIS_CONFIG = {\n")
	fmt.Fprintf(&b, "  url: %s, # redis-rb 4 reads the master name here\n", rbQuote("redis://"+f.conn.MasterName))
	fmt.Fprintf(&b, "  name: %s, # redis-rb 5 and Sidekiq 7 here\n", rbQuote(f.conn.MasterName))
	b.WriteString("  sentinels: [\n")
	for _, s := range f.conn.Sentinels {
		h, p := HostPort(s)
		if f.conn.Auth {
			fmt.Fprintf(&b, "    { host: %s, port: %d, password: password },\n", rbQuote(h), p)
		} else {
			fmt.Fprintf(&b, "    { host: %s, port: %d },\n", rbQuote(h), p)
		}
	}
	b.WriteString("  ],\n  role: :master,\n")
	if f.conn.Auth {
		b.WriteString("  password: password,\n")
	}
	b.WriteString("}.freeze\n")
	return b.String()
}

func lettuce(f *facts) string {
	var b strings.Builder
	u := url.URL{Scheme: "redis-sentinel", Host: strings.Join(f.conn.Sentinels, ","), Path: "/0"}
	if f.conn.Auth {
		u.User = url.User(f.password())
	}
	u.RawQuery = url.Values{"sentinelMasterId": {f.conn.MasterName}}.Encode()
	b.WriteString("# The URI (its password authenticates to the primary only):\n")
	b.WriteString(unmask(u.String()) + "\n\n")
	b.WriteString("// Java (Lettuce 6): the sentinels want the password too\n")
	if f.conn.Auth {
		fmt.Fprintf(&b, "String password = %s;\n", f.passwordExpr(javaQuote, fmt.Sprintf("System.getenv(%s)", javaQuote(specs.ConnPassword))))
	}
	h, p := HostPort(f.conn.Sentinels[0])
	fmt.Fprintf(&b, "RedisURI uri = RedisURI.Builder.sentinel(%s, %d, %s)", javaQuote(h), p, javaQuote(f.conn.MasterName))
	for _, s := range f.conn.Sentinels[1:] {
		h, p := HostPort(s)
		fmt.Fprintf(&b, "\n    .withSentinel(%s, %d)", javaQuote(h), p)
	}
	if f.conn.Auth {
		b.WriteString("\n    .withPassword(password.toCharArray()) // the primary")
	}
	b.WriteString("\n    .build();\n")
	if f.conn.Auth {
		b.WriteString("uri.getSentinels().forEach(s -> s.setPassword(password.toCharArray())); // the sentinels\n")
	}
	b.WriteString("RedisClient client = RedisClient.create(uri);\n\n")
	b.WriteString("# Spring Boot 3 (application.properties; Spring Boot 2: spring.redis.*)\n")
	fmt.Fprintf(&b, "spring.data.redis.sentinel.master=%s\n", propertiesValue(f.conn.MasterName))
	fmt.Fprintf(&b, "spring.data.redis.sentinel.nodes=%s\n", strings.Join(f.conn.Sentinels, ","))
	if f.conn.Auth {
		pw := f.passwordExpr(propertiesValue, "${"+specs.ConnPassword+"}")
		fmt.Fprintf(&b, "spring.data.redis.sentinel.password=%s\n", pw)
		fmt.Fprintf(&b, "spring.data.redis.password=%s\n", pw)
	}
	return b.String()
}

func jedis(f *facts) string {
	var b strings.Builder
	if f.conn.Auth {
		fmt.Fprintf(&b, "String password = %s;\n", f.passwordExpr(javaQuote, fmt.Sprintf("System.getenv(%s)", javaQuote(specs.ConnPassword))))
	}
	b.WriteString("JedisSentinelPool pool = new JedisSentinelPool(\n")
	fmt.Fprintf(&b, "    %s,\n", javaQuote(f.conn.MasterName))
	b.WriteString("    Set.of(")
	for i, s := range f.conn.Sentinels {
		h, p := HostPort(s)
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "new HostAndPort(%s, %d)", javaQuote(h), p)
	}
	b.WriteString("),\n")
	if f.conn.Auth {
		b.WriteString("    DefaultJedisClientConfig.builder().password(password).build(),  // the primary\n")
		b.WriteString("    DefaultJedisClientConfig.builder().password(password).build()); // the sentinels\n")
	} else {
		b.WriteString("    DefaultJedisClientConfig.builder().build(),\n")
		b.WriteString("    DefaultJedisClientConfig.builder().build());\n")
	}
	return b.String()
}

func jsSentinels(f *facts, indent string) string {
	var b strings.Builder
	for _, s := range f.conn.Sentinels {
		h, p := HostPort(s)
		fmt.Fprintf(&b, "%s{ host: %s, port: %d },\n", indent, jsQuote(h), p)
	}
	return b.String()
}

func (f *facts) jsPassword() string {
	return f.passwordExpr(jsQuote, "process.env."+specs.ConnPassword)
}

func ioredis(f *facts) string {
	var b strings.Builder
	b.WriteString("const Redis = require(\"ioredis\");\n\n")
	b.WriteString("const client = new Redis({\n  sentinels: [\n")
	b.WriteString(jsSentinels(f, "    "))
	b.WriteString("  ],\n")
	fmt.Fprintf(&b, "  name: %s,\n", jsQuote(f.conn.MasterName))
	if f.conn.Auth {
		fmt.Fprintf(&b, "  sentinelPassword: %s, // the sentinels\n", f.jsPassword())
		fmt.Fprintf(&b, "  password: %s, // the primary\n", f.jsPassword())
	}
	b.WriteString("});\n")
	return b.String()
}

func nodeRedis(f *facts) string {
	var b strings.Builder
	b.WriteString("import { createSentinel } from \"redis\";\n\n")
	b.WriteString("const client = await createSentinel({\n")
	fmt.Fprintf(&b, "  name: %s,\n", jsQuote(f.conn.MasterName))
	b.WriteString("  sentinelRootNodes: [\n")
	b.WriteString(jsSentinels(f, "    "))
	b.WriteString("  ],\n")
	if f.conn.Auth {
		fmt.Fprintf(&b, "  sentinelClientOptions: { password: %s }, // the sentinels\n", f.jsPassword())
		fmt.Fprintf(&b, "  nodeClientOptions: { password: %s }, // the primary\n", f.jsPassword())
	}
	b.WriteString("})\n  .on(\"error\", (err) => console.error(\"Redis Sentinel error\", err))\n  .connect();\n")
	return b.String()
}

func stackExchange(f *facts) string {
	parts := append([]string(nil), f.conn.Sentinels...)
	parts = append(parts, "serviceName="+f.conn.MasterName)
	if f.conn.Auth {
		// One password authenticates to the sentinels and to the primary.
		parts = append(parts, "password="+f.password())
	}
	return unmask(strings.Join(parts, ",")) + "\n"
}

func celery(f *facts) string {
	var b strings.Builder
	b.WriteString("# Celery settings: broker and result backend through the sentinels\n")
	if f.conn.Auth {
		if f.show {
			b.WriteString("from urllib.parse import quote\n\n")
		} else {
			b.WriteString("import os\nfrom urllib.parse import quote\n\n")
		}
		fmt.Fprintf(&b, "password = %s\n", f.passwordExpr(pyQuote, fmt.Sprintf("os.environ[%s]", pyQuote(specs.ConnPassword))))
		var urls []string
		for _, s := range f.conn.Sentinels {
			urls = append(urls, "sentinel://:{quote(password, safe='')}@"+s+"/0")
		}
		fmt.Fprintf(&b, "broker_url = f%s  # the password of the primary\n", pyQuote(strings.Join(urls, ";")))
	} else {
		var urls []string
		for _, s := range f.conn.Sentinels {
			urls = append(urls, "sentinel://"+s+"/0")
		}
		fmt.Fprintf(&b, "broker_url = %s\n", pyQuote(strings.Join(urls, ";")))
	}
	b.WriteString("broker_transport_options = {\n")
	fmt.Fprintf(&b, "    \"master_name\": %s,\n", pyQuote(f.conn.MasterName))
	if f.conn.Auth {
		b.WriteString("    \"sentinel_kwargs\": {\"password\": password},  # the sentinels\n")
	}
	b.WriteString("}\nresult_backend = broker_url\nresult_backend_transport_options = broker_transport_options\n")
	return b.String()
}

func envFormat(f *facts) string {
	var b strings.Builder
	vars := envVars(f)
	if f.secret != nil {
		vars = secretVars(f.secret)
	}
	for _, kv := range vars {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return b.String()
}

// envVars are the variables of the connection Secret, in its order, with
// the password shown or Hidden.
func envVars(f *facts) [][2]string {
	pw := f.password()
	h, p := HostPort(hostOfURL(f.conn.RedisURL))
	vars := [][2]string{
		{specs.ConnURL, specs.URLWithPassword(f.conn.RedisURL, specs.DefaultUser, authOnly(f.conn.Auth, pw))},
		{specs.ConnSentinelURL, specs.URLWithPassword(sentinelURL(f.conn), "", authOnly(f.conn.Auth, pw))},
		{specs.ConnHost, h},
		{specs.ConnPort, fmt.Sprint(p)},
	}
	if f.conn.Auth {
		vars = append(vars, [2]string{specs.ConnPassword, pw})
	}
	vars = append(vars, [2]string{specs.ConnMasterName, f.conn.MasterName}, [2]string{specs.ConnSentinels, strings.Join(f.conn.Sentinels, ",")})
	for i := range vars {
		vars[i][1] = unmask(vars[i][1])
	}
	return vars
}

// secretVars are the keys of the connection Secret: the known ones in
// their order, then any other, sorted.
func secretVars(data map[string][]byte) [][2]string {
	order := []string{specs.ConnURL, specs.ConnSentinelURL, specs.ConnHost, specs.ConnPort, specs.ConnPassword, specs.ConnMasterName, specs.ConnSentinels}
	seen := map[string]bool{}
	var vars [][2]string
	for _, k := range order {
		if v, ok := data[k]; ok {
			vars = append(vars, [2]string{k, string(v)})
			seen[k] = true
		}
	}
	var rest []string
	for k := range data {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		vars = append(vars, [2]string{k, string(data[k])})
	}
	return vars
}

func authOnly(auth bool, pw string) string {
	if auth {
		return pw
	}
	return ""
}

func hostOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// sentinelURL is REDIS_SENTINEL_URL without the password.
func sentinelURL(conn *Connection) string {
	return "redis+sentinel://" + strings.Join(conn.Sentinels, ",") + "/" + conn.MasterName
}
