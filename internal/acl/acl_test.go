package acl

import (
	"strings"
	"testing"
)

func TestParseRules(t *testing.T) {
	for _, ok := range []string{DefaultApplicationRules, "~app:* %R~cache:* &events:* +@read +get -@all +client|setname allkeys resetchannels"} {
		if _, err := ParseRules(ok); err != nil {
			t.Errorf("ParseRules(%q): %v", ok, err)
		}
	}
	for rules, want := range map[string]string{
		"":                  "no rule given",
		"~* >secret":        `rule ">secret" sets the user's password`,
		"~* +@all nopass":   `rule "nopass" sets the user's password`,
		"OFF ~*":            `rule "OFF" sets the user's password or state`,
		"~* +@all #abc":     `rule "#abc"`,
		"~* +@all get":      `rule "get" is not an ACL rule haredis accepts`,
		"~* selector(+get)": `is not an ACL rule haredis accepts`,
	} {
		if _, err := ParseRules(rules); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRules(%q): %v, want an error containing %q", rules, err, want)
		}
	}
}

// The default application user runs no administrative or dangerous command
// and keeps what Sentinel-aware clients and dashboards read.
func TestDefaultApplicationRules(t *testing.T) {
	rules, err := ApplicationRules("  ")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rules, " ")
	for _, want := range []string{"-@admin", "-@dangerous", "+info", "+role"} {
		if !strings.Contains(got, want) {
			t.Errorf("default rules %q lack %s", got, want)
		}
	}
	if strings.Index(got, "+info") < strings.Index(got, "-@dangerous") {
		t.Errorf("default rules %q: +info must come after -@dangerous to count", got)
	}
	// What haredis's probes need survives rules that take everything away.
	rules, err = ApplicationRules("~* -@all +get")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rules, " "); !strings.HasSuffix(got, "-@all +get +info +role") {
		t.Errorf("rules %q do not end with INFO and ROLE allowed", got)
	}
}

// A user's specification resets it first and holds only the password's
// hash.
func TestUserSpec(t *testing.T) {
	u := User{Name: AdminUser, Password: "s3cret", Rules: []string{"+@all"}}
	spec := strings.Join(u.Spec(), " ")
	if !strings.HasPrefix(spec, "reset on #") || strings.Contains(spec, "s3cret") {
		t.Errorf("spec %q", spec)
	}
	args := u.SetUserArgs()
	if args[0] != "ACL" || args[1] != "SETUSER" || args[2] != AdminUser || args[3] != "reset" {
		t.Errorf("ACL SETUSER args %v", args)
	}
	for _, u := range InternalUsers(Passwords{Admin: "a", Replication: "r", Sentinel: "s"}) {
		if !strings.HasPrefix(u.Name, InternalPrefix) || u.Password == "" {
			t.Errorf("internal user %+v", u)
		}
	}
}

// Declared users travel as hashes, keep their rules, and names that are
// haredis's own are refused.
func TestDeclaredUsers(t *testing.T) {
	in := []DeclaredUser{{Name: "sidekiq", Rules: "~queue:* +@all -@dangerous", PasswordHash: Hash("s3cret")}}
	users, err := ParseDeclared(EncodeDeclared(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Name != "sidekiq" || users[0].Password != "" {
		t.Fatalf("got %+v", users)
	}
	spec := strings.Join(users[0].Spec(), " ")
	if want := "reset on #" + Hash("s3cret") + " ~queue:* +@all -@dangerous"; spec != want {
		t.Errorf("spec %q, want %q", spec, want)
	}
	rotated := in[0]
	rotated.PasswordHash, rotated.PreviousHash = Hash("new"), Hash("s3cret")
	users, err = ParseDeclared(EncodeDeclared([]DeclaredUser{rotated}))
	if err != nil {
		t.Fatal(err)
	}
	if spec, want := strings.Join(users[0].Spec(), " "), "reset on #"+Hash("new")+" #"+Hash("s3cret")+" ~queue:*"; !strings.HasPrefix(spec, want) {
		t.Errorf("a rotated user's spec %q, want it to start with %q (both passwords)", spec, want)
	}
	if strings.Contains(string(EncodeDeclared(in)), "s3cret") {
		t.Error("the encoded users hold the password")
	}
	if got := string(EncodeDeclared(nil)); got != "[]" {
		t.Errorf("no users encode as %q", got)
	}
	for _, bad := range []struct {
		users []DeclaredUser
		want  string
	}{
		{[]DeclaredUser{{Name: "default", Rules: "+get", PasswordHash: Hash("x")}}, "application user"},
		{[]DeclaredUser{{Name: "haredis-admin", Rules: "+get", PasswordHash: Hash("x")}}, "haredis's own users"},
		{[]DeclaredUser{{Name: "a b", Rules: "+get", PasswordHash: Hash("x")}}, "use 1 to 64 letters"},
		{[]DeclaredUser{{Name: "a", Rules: "+get >pw", PasswordHash: Hash("x")}}, "user a: rule \">pw\""},
		{[]DeclaredUser{{Name: "a", Rules: "+get", PasswordHash: "abc"}}, "not a SHA-256"},
		{[]DeclaredUser{{Name: "a", Rules: "+get", PasswordHash: Hash("x"), PreviousHash: "x y"}}, "not a SHA-256"},
		{[]DeclaredUser{{Name: "a", Rules: "+get", PasswordHash: Hash("x")}, {Name: "a", Rules: "+set", PasswordHash: Hash("y")}}, "declared twice"},
	} {
		if _, err := ParseDeclared(EncodeDeclared(bad.users)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseDeclared(%+v): %v, want an error containing %q", bad.users, err, bad.want)
		}
	}
}
