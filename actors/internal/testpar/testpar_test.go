package testpar

import (
	"flag"
	"testing"
)

// TestDefaultKeepsWhatWasGiven runs in a fresh flag set: a -test.parallel given on the
// command line stays, an absent one becomes n (but under -race).
func TestDefaultKeepsWhatWasGiven(t *testing.T) {
	saved := flag.CommandLine
	t.Cleanup(func() { flag.CommandLine = saved })
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, map[bool]string{true: "2", false: "8"}[Race]},
		{[]string{"-test.parallel=3"}, "3"},
	} {
		flag.CommandLine = flag.NewFlagSet("t", flag.ContinueOnError)
		p := flag.Int("test.parallel", 2, "")
		if err := flag.CommandLine.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		Default(8)
		if got := flag.Lookup("test.parallel").Value.String(); got != c.want {
			t.Fatalf("args %v: -test.parallel %s, want %s (race %v)", c.args, got, c.want, Race)
		}
		_ = p
	}
}
