package luaapp_test

import (
	"os"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/internal/testpar"
)

// The tests mostly wait on loopback round trips and on calls stopped by their time
// budget: eight at once, unless -parallel is given.
func TestMain(m *testing.M) { os.Exit(testpar.Run(m, 8)) }
