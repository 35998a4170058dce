// Command coredns is CoreDNS with the caapolicy plugin compiled in, next to the plugins an
// authoritative server uses (listed in cmd/internal/plugins).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/caapolicy/caapolicy/cmd/internal/plugins"
)

func main() {
	coremain.Run()
}
