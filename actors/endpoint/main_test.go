package endpoint

import (
	"os"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/internal/testpar"
)

// The lossy-link tests wait on a simulated link (delays, losses, a relay that holds
// datagrams) far more than they compute: eight at once, unless -parallel is given.
func TestMain(m *testing.M) { os.Exit(testpar.Run(m, 8)) }
